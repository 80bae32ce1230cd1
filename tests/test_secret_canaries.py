"""Canary secrets planted everywhere; every kind of failure forced; none may surface anywhere."""
import json
import logging
import uuid

import pytest

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Trigger
from apps.deploys.triggers.webhook import sign
from apps.workloads.models import ApiToken, RegistryCredential
from tests.support import dockerlab
from tests.support.database import dump_all_rows

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

CANARY = uuid.uuid4().hex[:8]
ENV_SECRET = f"env-canary-{CANARY}"
HOOK_SECRET = f"hook-canary-{CANARY}"
WRONG_PASSWORD = f"wrong-canary-{CANARY}"


def test_no_secret_reaches_a_table_an_api_answer_or_a_log_line(
    caplog, client, admin_user, make_workload, registry, publisher, auth_registry,
    auth_publisher, repo_name, settings, tmp_path
):
    from tests.conftest import REGISTRY_PASSWORD, REGISTRY_USER, ApiClient

    caplog.set_level(logging.DEBUG)
    settings.TINYFORGE_WORK_DIR = tmp_path / "work"
    token_row, token = ApiToken.issue(admin_user)
    api = ApiClient(token)
    secrets = [REGISTRY_PASSWORD, WRONG_PASSWORD, ENV_SECRET, HOOK_SECRET, token]
    env = [{"key": "API_KEY", "value": ENV_SECRET, "secret": True}]
    port = dockerlab.free_port()
    private = f"{auth_registry.host}/{repo_name}"
    auth_publisher.publish(private, 1)
    public = f"{registry.host}/{repo_name}"
    publisher.publish(public, 1)
    answers = []

    def call(method, path, data=None):
        response = getattr(api, method)(path, data) if data is not None else getattr(
            api, method)(path)
        answers.append(response.content.decode())
        return response

    call("post", "/registries", {"host": auth_registry.host, "username": REGISTRY_USER,
                                 "password": WRONG_PASSWORD})
    auth_fail = call("post", "/workloads", {"name": f"auth-{CANARY}", "spec": {
        "image": f"{private}:live"}, "env": env}).data
    pull_fail = call("post", "/workloads", {"name": f"pull-{CANARY}", "spec": {
        "image": f"{public}:missing"}, "env": env}).data
    start_fail = call("post", "/workloads", {"name": f"start-{CANARY}", "env": env, "spec": {
        "image": f"{public}:live", "command": ["sh", "-c", "echo key=$API_KEY; exit 1"]}}).data
    health_fail = call("post", "/workloads", {"name": f"health-{CANARY}", "env": env, "spec": {
        "image": f"{public}:live", "ports": [f"127.0.0.1:{port}:8080"],
        "healthcheck": {"command": ["sh", "-c", "echo $API_KEY; exit 1"], "retries": 1}}}).data
    build_fail = make_workload(name=f"build-{CANARY}", kind="git", env=env,
                               spec={"repo": str(tmp_path / "no-such-repo")})
    codes = {}
    for workload in (auth_fail, pull_fail, start_fail, health_fail):
        deploy = call("post", f"/workloads/{workload['id']}/deploy").data
        codes[workload["name"]] = deploy["error_code"]
        call("get", f"/deploys/{deploy['id']}")
        call("get", f"/workloads/{workload['id']}")
        call("get", f"/workloads/{workload['id']}/deploys")
    codes["build"] = dispatch(build_fail, "manual").error_code
    hook = Trigger.objects.create(name=f"hook-{CANARY}", kind="webhook", secret=HOOK_SECRET)
    hook.workloads.add(build_fail)
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    client.post(f"/api/hooks/{hook.raw_token}", body, content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=sign(HOOK_SECRET, body))
    for path in ("/workloads", "/registries", "/triggers", f"/triggers/{hook.pk}"):
        call("get", path)
    assert sorted(codes.values()) == sorted(
        ["auth_failed", "pull_failed", "start_failed", "health_failed", "build_failed"])
    # Secrets were really in play: the start failure's output carried the env value, masked.
    assert "key=••••••" in start_fail_log(start_fail["id"])
    stored = dump_all_rows()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in stored, "a secret is stored in plain text"
        assert all(secret not in answer for answer in answers), "a secret is in an API answer"
        assert secret not in logged, "a secret is in a log line"
    assert RegistryCredential.objects.get().password == WRONG_PASSWORD  # still usable


def start_fail_log(workload_id):
    from apps.deploys.models import Deploy

    return Deploy.objects.filter(workload_id=workload_id).latest("id").log
