"""The deploy log is appended line by line in the database, masked, never rewritten whole."""
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.deploys.dispatch import DeployLog
from apps.deploys.models import Deploy

SECRET = "log-canary-93be"


def test_each_line_is_appended_in_one_update_that_does_not_resend_the_log(make_workload):
    workload = make_workload(env=[{"key": "TOKEN", "value": SECRET, "secret": True}])
    deploy = Deploy.objects.create(workload=workload, reason="api", source_kind="image")
    seen = []
    write = DeployLog(deploy, progress=seen.append)
    write("first line " + "x" * 5000)
    with CaptureQueriesContext(connection) as ctx:
        write(f"second line with {SECRET}")
    assert len(ctx.captured_queries) == 1
    assert "x" * 100 not in ctx.captured_queries[0]["sql"]
    deploy.refresh_from_db()
    first, second = deploy.log.split("\n")
    assert first.startswith("first line") and second.startswith("second line with")
    assert SECRET not in deploy.log and SECRET not in seen[1]


def test_lines_continue_a_log_that_already_has_text(make_workload):
    deploy = Deploy.objects.create(workload=make_workload(), reason="api", source_kind="image",
                                   log="written before")
    DeployLog(deploy)("then this")
    deploy.refresh_from_db()
    assert deploy.log == "written before\nthen this"
