"""The OpenAPI document: every operation has a summary and a description, both gettext_lazy
(ninja builds the document per request, so they follow the request's language), and workloads
can be found by name as the command line finds them."""
import pytest

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_operation_has_a_non_empty_summary_and_description(client):
    document = client.get("/api/openapi.json").json()
    found = dict(operations(document))
    assert len(found) >= 30  # the walk does see the whole API
    missing = {name: [key for key in ("summary", "description")
                      if not str(op.get(key, "")).strip()] for name, op in found.items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}


def test_summaries_are_phrases_not_generated_from_function_names(client):
    document = client.get("/api/openapi.json").json()
    for name, op in operations(document):
        # ninja's fallback is the function name titled ("List Workloads", "Get Workload").
        generated = op["operationId"].split("_", 2)[-1].replace("_", " ").title()
        assert op["summary"] != generated, name


def test_summaries_and_descriptions_are_translatable_strings():
    from django.utils.functional import Promise

    from tinyforge.api import api

    ops = [op for _prefix, router in api._routers for path in router.path_operations.values()
           for op in path.operations]
    assert len(ops) >= 30
    assert [op.view_func.__name__ for op in ops
            if not (isinstance(op.summary, Promise) and isinstance(op.description, Promise))] == []


def test_the_document_is_worded_in_the_request_language(client):
    """ninja builds the document per request, so the lazy strings follow Accept-Language.
    (A translation is planted for one summary: the catalogs get theirs after a merge.)"""
    from django.utils.translation import trans_real

    catalog = trans_real.translation("ru")._catalog
    catalog["List workloads"] = "Список рабочих нагрузок"
    try:
        ru = client.get("/api/openapi.json", HTTP_ACCEPT_LANGUAGE="ru").json()
        en = client.get("/api/openapi.json", HTTP_ACCEPT_LANGUAGE="en").json()
    finally:
        catalog._catalogs[0].pop("List workloads", None)
    assert ru["paths"]["/api/workloads"]["get"]["summary"] == "Список рабочих нагрузок"
    assert en["paths"]["/api/workloads"]["get"]["summary"] == "List workloads"


def test_a_workload_is_found_by_name(as_viewer, make_workload):
    workload = make_workload(name="shop-web")
    make_workload(name="shop-db")
    response = as_viewer.get("/workloads/by-name/shop-web")
    assert response.status_code == 200, response.data
    assert response.data["id"] == workload.pk and response.data["name"] == "shop-web"
    assert response.data == as_viewer.get(f"/workloads/{workload.pk}").data


def test_an_unknown_name_is_a_404_naming_the_field(as_viewer):
    response = as_viewer.get("/workloads/by-name/nope")
    assert response.status_code == 404
    assert response.data["detail"] == "name: no workload named 'nope'."


def test_an_overlong_name_is_refused_before_any_lookup(as_viewer):
    response = as_viewer.get("/workloads/by-name/" + "x" * 64)
    assert response.status_code == 422 and "name" in response.data["detail"]


def test_the_lookup_by_name_needs_an_authenticated_user(as_anonymous, make_workload):
    make_workload(name="shop-web")
    assert as_anonymous.get("/workloads/by-name/shop-web").status_code == 401
