"""schemathesis over every API operation with a staff token, in-process against the WSGI app.

Every operation gets positive and negative cases generated from the OpenAPI schema (and, for
operations with ids in the path, cases aimed at objects that exist), and every response goes
through all of schemathesis's checks: no server error, status codes, content types, response
schemas and headers as declared, valid data accepted, invalid data refused.

The cases are driven through schemathesis's Hypothesis strategies rather than its pytest plugin:
the plugin reports every operation as a subtest and spent minutes formatting each failure, which
does not fit in CI; here a failure is one line naming the operation, the check and the input.
"""
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from apps.deploys.models import Deploy, Trigger
from apps.workloads.models import RegistryCredential
from tests.conftest import _token_for
from tinyforge.wsgi import application

pytestmark = pytest.mark.django_db

CONFIG = """
[checks]
# Past what JSON Schema can say (a spec valid for its kind, a name nobody has, a chain without
# a cycle, a deploy that can be rolled back to) the server answers 409 or 422.
positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""
# All of schemathesis's response checks for OpenAPI (none is switched off in CONFIG).
EVERY_CHECK = {
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance", "positive_data_acceptance",
    "negative_data_rejection", "missing_required_header", "unsupported_method",
    "ignored_auth", "use_after_free", "ensure_resource_availability",
}
EXAMPLES = int(os.environ.get("TINYFORGE_FUZZ_EXAMPLES", 25))
MIN_CASES = 1000


@pytest.fixture
def connections_kept_between_requests():
    """The cases go through the WSGI app, whose request signals close the database connection
    of a request that ends inside a transaction (the test's own). Django's test client detaches
    that handler for the same reason; on an in-memory SQLite database closing does nothing, on
    PostgreSQL it would end the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def known_objects(connections_kept_between_requests, make_workload, monkeypatch):
    # Deploys stay queued: the fuzzer tests the HTTP contract, not pulls of made-up images.
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    workload = make_workload(name="fuzz-target")
    deploy = Deploy.objects.create(workload=workload, reason="manual", source_kind="image")
    trigger = Trigger.objects.create(name="fuzz-trigger", kind="manual")
    trigger.workloads.add(workload)
    registry = RegistryCredential.objects.create(host="127.0.0.1:5999", username="u",
                                                 password="fuzz-registry-password")
    return {"workload_id": workload.pk, "deploy_id": deploy.pk, "trigger_id": trigger.pk,
            "registry_id": registry.pk}


def operations(schema):
    """Every operation, deletes last so the objects they remove serve the others first."""
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted(found, key=lambda op: op.method.upper() == "DELETE")


def run_cases(operation, strategy, headers, failures, seen):
    @given(strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=["explicit", "generate"], suppress_health_check=list(HealthCheck))
    def check(case):
        seen[operation.label] += 1
        try:
            case.call_and_validate(headers=headers)
        except (AssertionError, BaseExceptionGroup) as error:  # failed checks
            for problem in getattr(error, "exceptions", [error]):
                first_line = str(problem).strip().splitlines()[0][:200]
                failures.setdefault(
                    (operation.label, first_line),
                    f"body={case.body!r:.300} path={case.path_parameters} query={case.query}",
                )

    try:
        check()
    except Exception as error:  # noqa: BLE001 - e.g. no input fits (an operation without any)
        if "Unable to satisfy assumptions" not in str(error):
            raise


@pytest.mark.docker  # deletes tear down through the engine; a missing engine would be a 503
def test_every_operation_holds_its_contract_under_generated_input(engine, known_objects,
                                                                  staff_user):
    schema = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", application, config=schemathesis.Config.from_str(CONFIG))
    headers = {"Authorization": f"Bearer {_token_for(staff_user)}"}
    failures, seen, checks_run = {}, Counter(), set()

    @schema.hook
    def after_validate(context, case, response, results):
        checks_run.update(result.name for result in results)

    for operation in operations(schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_cases(operation, operation.as_strategy(generation_mode=mode), headers,
                      failures, seen)
        path_names = {p.name for p in operation.path_parameters}
        if path_names and path_names <= set(known_objects):
            fixed = {name: known_objects[name] for name in path_names}
            run_cases(operation, operation.as_strategy(path_parameters=fixed), headers,
                      failures, seen)
    report = "\n".join(f"{label}: {problem}\n    {example}"
                       for (label, problem), example in sorted(failures.items()))
    assert not failures, f"{len(failures)} distinct failures:\n{report}"
    untested = {op.label for op in operations(schema)} - set(seen)
    assert untested <= {"POST /api/hooks/{token}"} | {"GET /api/health"}, untested
    total = sum(seen.values())
    print(f"schemathesis: {total} cases over {len(seen)} operations; checks: "
          + ", ".join(sorted(checks_run)))
    assert total >= MIN_CASES, seen
    assert EVERY_CHECK <= checks_run, EVERY_CHECK - checks_run
