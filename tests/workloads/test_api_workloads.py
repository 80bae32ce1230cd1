"""The workload endpoints: create, list, get, patch, errors and translations (no engine needed)."""
import pytest

from apps.workloads.models import EnvVar, Volume, Workload

pytestmark = pytest.mark.django_db

IMAGE = "127.0.0.1:5000/team/web:live"
MINIMAL = {"name": "web", "kind": "image", "spec": {"image": IMAGE}}


def create(client, name="web", **extra):
    response = client.post("/workloads", {"name": name, "kind": "image",
                                          "spec": {"image": IMAGE}, **extra})
    assert response.status_code == 201, response.data
    return response.data


def snapshot(workload_id):
    """Everything stored about a workload, as plain values."""
    workload = Workload.objects.get(pk=workload_id)
    return {
        "fields": {f: getattr(workload, f) for f in (
            "name", "kind", "ref_id", "spec", "title_en", "title_ru", "description_en",
            "description_ru", "updated_at",
        )},
        "env": sorted((v.key, v.value, v.secret) for v in workload.env_vars.all()),
        "volumes": sorted(
            (v.name, v.host_path, v.mount_path, v.read_only) for v in workload.volumes.all()
        ),
    }


# --- create, list, get ------------------------------------------------------------------------

def test_it_creates_a_workload_from_the_minimal_payload_and_fills_the_defaults(as_admin):
    response = as_admin.post("/workloads", MINIMAL)
    assert response.status_code == 201, response.data
    data = response.data
    assert data["name"] == "web" and data["kind"] == "image"
    assert data["spec"]["image"] == IMAGE
    assert data["spec"]["restart"] == "unless-stopped"
    assert data["spec"]["ports"] == []
    assert data["spec"]["local"] is False and data["spec"]["command"] is None
    assert data["spec"]["limits"] == {}
    assert data["env"] == [] and data["volumes"] == [] and data["containers"] == []
    assert data["last_deploy"] is None and data["state"] == "absent"
    stored = Workload.objects.get(pk=data["id"])
    assert stored.spec == data["spec"]


def test_it_defaults_the_ref_id_to_the_workload_id(as_admin):
    data = create(as_admin)
    assert data["ref_id"] == str(data["id"])
    assert Workload.objects.get(pk=data["id"]).ref_id == str(data["id"])


def test_it_lists_every_workload_by_name(as_admin):
    create(as_admin, "zeta")
    create(as_admin, "alpha")
    response = as_admin.get("/workloads")
    assert response.status_code == 200
    assert [w["name"] for w in response.data] == ["alpha", "zeta"]


def test_it_gets_one_workload_with_its_env_and_volumes(as_admin):
    created = create(as_admin, env=[{"key": "MODE", "value": "prod"}],
                     volumes=[{"name": "data", "mount_path": "/data"}])
    response = as_admin.get(f"/workloads/{created['id']}")
    assert response.status_code == 200
    assert response.data["id"] == created["id"] and response.data["name"] == "web"
    assert response.data["env"] == [{"key": "MODE", "value": "prod", "secret": False}]
    assert response.data["volumes"] == [
        {"name": "data", "host_path": "", "mount_path": "/data", "read_only": False}
    ]


# --- env, secrets and volumes -------------------------------------------------------------------

def test_it_never_returns_a_secret_env_value(as_admin):
    created = create(as_admin, env=[
        {"key": "PLAIN", "value": "visible"},
        {"key": "TOKEN", "value": "s3cret-token-value", "secret": True},
    ])
    env = {item["key"]: item for item in created["env"]}
    assert env["TOKEN"] == {"key": "TOKEN", "value": None, "secret": True}
    assert env["PLAIN"]["value"] == "visible"
    for path in ("/workloads", f"/workloads/{created['id']}"):
        response = as_admin.get(path)
        assert "s3cret-token-value" not in response.content.decode()
    assert EnvVar.objects.get(key="TOKEN").value == "s3cret-token-value"


def test_a_patch_replaces_env_and_volumes_and_keeps_an_omitted_secret_value(as_admin, settings):
    settings.TINYFORGE_HOST_PATHS = ["/srv"]  # the host access policy allows binds from here
    created = create(as_admin, env=[
        {"key": "OLD", "value": "1"},
        {"key": "TOKEN", "value": "s3cret-token-value", "secret": True},
    ], volumes=[{"name": "data", "mount_path": "/data"}])
    response = as_admin.patch(f"/workloads/{created['id']}", {
        "env": [{"key": "NEW", "value": "2"}, {"key": "TOKEN", "secret": True}],
        "volumes": [{"host_path": "/srv/site", "mount_path": "/site", "read_only": True}],
    })
    assert response.status_code == 200, response.data
    assert response.data["env"] == [
        {"key": "NEW", "value": "2", "secret": False},
        {"key": "TOKEN", "value": None, "secret": True},
    ]
    assert response.data["volumes"] == [
        {"name": "", "host_path": "/srv/site", "mount_path": "/site", "read_only": True}
    ]
    stored = {v.key: v for v in EnvVar.objects.filter(workload_id=created["id"])}
    assert set(stored) == {"NEW", "TOKEN"}
    assert stored["TOKEN"].value == "s3cret-token-value" and stored["TOKEN"].secret
    volumes = list(Volume.objects.filter(workload_id=created["id"]))
    assert [(v.name, v.host_path, v.mount_path, v.read_only) for v in volumes] == [
        ("", "/srv/site", "/site", True)
    ]


def test_a_patch_with_a_new_secret_value_replaces_it(as_admin):
    created = create(as_admin, env=[{"key": "TOKEN", "value": "first-value", "secret": True}])
    response = as_admin.patch(f"/workloads/{created['id']}", {
        "env": [{"key": "TOKEN", "value": "second-value", "secret": True}]
    })
    assert response.status_code == 200
    assert EnvVar.objects.get(workload_id=created["id"], key="TOKEN").value == "second-value"


def test_a_patch_without_env_leaves_env_and_volumes_alone(as_admin):
    created = create(as_admin, env=[{"key": "TOKEN", "value": "keep-me", "secret": True}],
                     volumes=[{"name": "data", "mount_path": "/data"}])
    response = as_admin.patch(f"/workloads/{created['id']}", {"title": "Renamed"})
    assert response.status_code == 200
    assert EnvVar.objects.get(workload_id=created["id"]).value == "keep-me"
    assert Volume.objects.filter(workload_id=created["id"]).count() == 1


def test_a_patch_changes_the_spec_and_fills_its_defaults(as_admin):
    created = create(as_admin)
    response = as_admin.patch(f"/workloads/{created['id']}", {
        "spec": {"image": "127.0.0.1:5000/team/web:v2", "ports": ["127.0.0.1:8080:80"]}
    })
    assert response.status_code == 200
    spec = Workload.objects.get(pk=created["id"]).spec
    assert spec["image"] == "127.0.0.1:5000/team/web:v2"
    assert spec["ports"] == ["127.0.0.1:8080:80"] and spec["restart"] == "unless-stopped"


# --- not found and conflicts --------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("get", "/workloads/999999"),
    ("patch", "/workloads/999999"),
    ("delete", "/workloads/999999"),
    ("post", "/workloads/999999/deploy"),
    ("get", "/deploys/999999"),
])
def test_it_answers_404_json_for_an_unknown_id(as_admin, method, path):
    args = ({"title": "x"},) if method == "patch" else ()
    response = getattr(as_admin, method)(path, *args)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.data["detail"]


def test_it_rejects_a_duplicate_name_with_409(as_admin):
    create(as_admin, "web")
    response = as_admin.post("/workloads", MINIMAL)
    assert response.status_code == 409
    assert "web" in response.data["detail"] and response.data["field"] == "name"
    assert Workload.objects.filter(name="web").count() == 1


def test_it_rejects_renaming_onto_another_workloads_name_with_409(as_admin):
    create(as_admin, "web")
    other = create(as_admin, "api")
    response = as_admin.patch(f"/workloads/{other['id']}", {"name": "web"})
    assert response.status_code == 409 and response.data["field"] == "name"
    assert Workload.objects.get(pk=other["id"]).name == "api"


def test_two_workloads_with_default_ref_ids_coexist_but_a_duplicate_ref_id_is_409(as_admin):
    first = create(as_admin, "first")
    second = create(as_admin, "second")
    assert first["ref_id"] != second["ref_id"]
    duplicate = as_admin.post("/workloads", {
        "name": "third", "kind": "image", "spec": {"image": IMAGE}, "ref_id": first["ref_id"]
    })
    assert duplicate.status_code == 409, duplicate.data
    assert duplicate.data["field"] == "ref_id" and duplicate.data["detail"]
    assert not Workload.objects.filter(name="third").exists()
    moved = as_admin.patch(f"/workloads/{second['id']}", {"ref_id": first["ref_id"]})
    assert moved.status_code == 409 and moved.data["field"] == "ref_id"
    assert Workload.objects.get(pk=second["id"]).ref_id == second["ref_id"]


def test_an_explicit_shared_ref_id_is_stored_for_the_first_workload(as_admin):
    created = create(as_admin, ref_id="shop")
    assert created["ref_id"] == "shop"
    duplicate = as_admin.post("/workloads", {
        "name": "web-2", "kind": "image", "spec": {"image": IMAGE}, "ref_id": "shop"
    })
    assert duplicate.status_code == 409 and duplicate.data["field"] == "ref_id"


# --- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,field", [
    ({}, "spec.image"),
    ({"image": ""}, "spec.image"),
    ({"image": "Not A Ref!"}, "spec.image"),
    ({"image": IMAGE, "ports": ["99999:1"]}, "spec.ports[0]"),
    ({"image": IMAGE, "bogus": True}, "spec.bogus"),
    ({"image": IMAGE, "restart": "sometimes"}, "spec.restart"),
])
def test_it_rejects_an_invalid_spec_naming_the_field(as_admin, spec, field):
    response = as_admin.post("/workloads", {"name": "web", "kind": "image", "spec": spec})
    assert response.status_code == 422, response.data
    assert response.data["detail"].startswith(field + ":"), response.data
    assert field in response.data["errors"]
    assert not Workload.objects.exists()


def test_it_rejects_an_unknown_kind_naming_kind(as_admin):
    response = as_admin.post("/workloads", {"name": "web", "kind": "nope", "spec": {}})
    assert response.status_code == 422
    assert response.data["detail"].startswith("kind:") and "nope" in response.data["detail"]
    assert not Workload.objects.exists()


def test_it_rejects_an_invalid_name(as_admin):
    response = as_admin.post("/workloads", {**MINIMAL, "name": "Web Site"})
    assert response.status_code == 422 and response.data["detail"].startswith("name:")


@pytest.mark.parametrize("body,field", [
    ({"name": ["web"], "spec": {"image": IMAGE}}, "name"),
    ({"name": "web", "spec": "image"}, "spec"),
    ({"name": "web", "spec": {"image": IMAGE}, "env": {"A": "1"}}, "env"),
    ({"name": "web", "spec": {"image": IMAGE}, "env": [{"value": "1"}]}, "env.0.key"),
    ({"name": "web", "spec": {"image": IMAGE}, "volumes": [{"name": "data"}]},
     "volumes.0.mount_path"),
    ({"spec": {"image": IMAGE}}, "name"),
])
def test_it_answers_422_for_a_wrong_type_in_the_body(as_admin, body, field):
    response = as_admin.post("/workloads", body)
    assert response.status_code == 422, response.data
    assert response.data["detail"].startswith(field), response.data
    assert not Workload.objects.exists()


def test_it_answers_a_malformed_json_body_with_a_client_error(as_admin):
    response = as_admin.client.post(
        "/api/workloads", "{not json", content_type="application/json", **as_admin.headers
    )
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


@pytest.mark.parametrize("body,field", [
    ({"name": ["web"]}, "name"),
    ({"spec": "image"}, "spec"),
    ({"env": "A=1"}, "env"),
    ({"volumes": [{"name": "x"}]}, "volumes.0.mount_path"),
    ({"spec": {"image": IMAGE, "ports": ["99999:1"]}}, "spec.ports[0]"),
    ({"kind": "nope"}, "kind"),
    ({"env": [{"key": "1BAD", "value": "x"}]}, "env[0].key"),
    ({"volumes": [{"host_path": "relative", "mount_path": "/x"}]}, "volumes[0].host_path"),
])
def test_a_rejected_patch_names_the_field_and_changes_nothing(as_admin, body, field):
    created = create(as_admin, env=[{"key": "TOKEN", "value": "keep-me", "secret": True}],
                     volumes=[{"name": "data", "mount_path": "/data"}], title="Web")
    before = snapshot(created["id"])
    response = as_admin.patch(f"/workloads/{created['id']}", body)
    assert response.status_code == 422, response.data
    assert response.data["detail"].startswith(field), response.data
    assert snapshot(created["id"]) == before


def test_a_patch_that_mixes_good_changes_with_a_bad_spec_changes_nothing(as_admin):
    created = create(as_admin, env=[{"key": "TOKEN", "value": "keep-me", "secret": True}],
                     volumes=[{"name": "data", "mount_path": "/data"}], title="Web")
    before = snapshot(created["id"])
    response = as_admin.patch(f"/workloads/{created['id']}", {
        "name": "renamed", "title": "Changed", "env": [{"key": "OTHER", "value": "1"}],
        "volumes": [], "spec": {"image": IMAGE, "ports": ["99999:1"]},
    })
    assert response.status_code == 422
    assert snapshot(created["id"]) == before


def test_a_conflicting_patch_changes_nothing(as_admin):
    create(as_admin, "taken")
    created = create(as_admin, "web", env=[{"key": "TOKEN", "value": "keep-me", "secret": True}])
    before = snapshot(created["id"])
    response = as_admin.patch(f"/workloads/{created['id']}", {
        "name": "taken", "env": [], "title": "Changed"
    })
    assert response.status_code == 409
    assert snapshot(created["id"]) == before


@pytest.mark.parametrize("field", ["env", "volumes"])
def test_a_patch_with_a_null_list_is_not_a_server_error(as_admin, field):
    created = create(as_admin, env=[{"key": "TOKEN", "value": "keep-me", "secret": True}],
                     volumes=[{"name": "data", "mount_path": "/data"}])
    before = snapshot(created["id"])
    response = as_admin.patch(f"/workloads/{created['id']}", {field: None})
    assert response.status_code in (200, 422), response.status_code
    if response.status_code == 422:
        assert snapshot(created["id"]) == before


# --- translations -------------------------------------------------------------------------------

def test_it_stores_title_and_description_translations(as_admin):
    created = create(as_admin, title="Web shop", title_ru="Веб-магазин",
                     description="Sells things", description_ru="Продаёт вещи")
    stored = Workload.objects.get(pk=created["id"])
    assert stored.title_en == "Web shop" and stored.title_ru == "Веб-магазин"
    assert stored.description_en == "Sells things" and stored.description_ru == "Продаёт вещи"
    assert created["title"] == "Web shop" and created["title_ru"] == "Веб-магазин"


def test_it_answers_in_russian_when_the_client_asks_for_it(as_admin):
    created = create(as_admin, title="Web shop", title_ru="Веб-магазин",
                     description="Sells things", description_ru="Продаёт вещи")
    russian = as_admin.get(f"/workloads/{created['id']}", HTTP_ACCEPT_LANGUAGE="ru")
    assert russian.data["title"] == "Веб-магазин"
    assert russian.data["description"] == "Продаёт вещи"
    english = as_admin.get(f"/workloads/{created['id']}", HTTP_ACCEPT_LANGUAGE="en")
    assert english.data["title"] == "Web shop"
    listed = as_admin.get("/workloads", HTTP_ACCEPT_LANGUAGE="ru")
    assert listed.data[0]["title"] == "Веб-магазин"


def test_a_missing_russian_title_falls_back_to_english(as_admin):
    created = create(as_admin, title="Web shop")
    russian = as_admin.get(f"/workloads/{created['id']}", HTTP_ACCEPT_LANGUAGE="ru")
    assert russian.data["title"] == "Web shop"


def test_a_patch_sets_the_russian_title_only(as_admin):
    created = create(as_admin, title="Web shop")
    response = as_admin.patch(f"/workloads/{created['id']}", {"title_ru": "Магазин"})
    assert response.status_code == 200
    stored = Workload.objects.get(pk=created["id"])
    assert stored.title_en == "Web shop" and stored.title_ru == "Магазин"
