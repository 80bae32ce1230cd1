"""With the Docker engine unreachable, reads keep working and writes fail cleanly."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.deploys.models import ERROR_MESSAGES, Deploy
from apps.workloads import engine as tf_engine
from apps.workloads.models import EnvVar, Workload
from tests.support import dockerlab

pytestmark = pytest.mark.django_db

IMAGE = "127.0.0.1:5000/team/web:live"


@pytest.fixture
def engine_down(settings):
    """DOCKER_HOST points at a closed port; the cached client is dropped before and after."""
    settings.DOCKER_HOST = f"tcp://127.0.0.1:{dockerlab.free_port()}"
    tf_engine.reset()
    yield settings.DOCKER_HOST
    tf_engine.reset()


@pytest.fixture
def workload(as_admin):
    response = as_admin.post("/workloads", {
        "name": "web", "kind": "image", "spec": {"image": IMAGE},
        "env": [{"key": "TOKEN", "value": "engine-down-secret-1", "secret": True}],
    })
    assert response.status_code == 201, response.data
    return response.data


def test_health_says_the_engine_is_down(engine_down, as_anonymous):
    response = as_anonymous.get("/health")
    assert response.status_code == 200
    assert response.data == {"status": "ok", "docker": "down"}


def test_reads_keep_working(engine_down, as_viewer, workload):
    listed = as_viewer.get("/workloads")
    assert listed.status_code == 200 and [w["name"] for w in listed.data] == ["web"]
    assert as_viewer.get(f"/workloads/{workload['id']}").status_code == 200
    assert as_viewer.get("/sources").status_code == 200
    assert as_viewer.get("/registries").status_code == 200


def test_changing_settings_needs_no_engine(engine_down, as_admin, workload):
    response = as_admin.patch(f"/workloads/{workload['id']}", {"title": "Still editable"})
    assert response.status_code == 200 and response.data["title"] == "Still editable"


def test_a_deploy_fails_with_engine_down_and_reads_keep_working(engine_down, as_admin, workload):
    response = as_admin.post(f"/workloads/{workload['id']}/deploy")
    assert response.status_code == 202, response.data
    assert response.data["status"] == "failed"
    assert response.data["error_code"] == "engine_down"
    assert response.data["error_message"] == str(ERROR_MESSAGES["engine_down"])
    detail = as_admin.get(f"/deploys/{response.data['id']}")
    assert detail.status_code == 200 and detail.data["error_code"] == "engine_down"
    assert "engine-down-secret-1" not in detail.content.decode()
    again = as_admin.get(f"/workloads/{workload['id']}")
    assert again.status_code == 200
    assert again.data["last_deploy"]["error_code"] == "engine_down"
    assert Deploy.objects.get().finished_at is not None


def test_deleting_a_workload_answers_503_and_keeps_it(engine_down, as_admin, workload):
    response = as_admin.delete(f"/workloads/{workload['id']}")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response.data["detail"] and response.data.get("code") == "engine_down"
    assert Workload.objects.filter(pk=workload["id"]).exists()
    assert EnvVar.objects.filter(workload_id=workload["id"]).exists()


def test_a_forced_delete_removes_the_workload_anyway(engine_down, as_admin, workload):
    response = as_admin.delete(f"/workloads/{workload['id']}?force=true")
    assert response.status_code == 204
    assert not Workload.objects.filter(pk=workload["id"]).exists()
    assert not EnvVar.objects.filter(workload_id=workload["id"]).exists()


def test_the_deploy_command_fails_with_engine_down(engine_down, workload):
    with pytest.raises(CommandError) as caught:
        call_command("deploy", "web", stdout=StringIO())
    assert "engine_down" in str(caught.value)


@pytest.mark.docker
def test_the_engine_is_seen_again_once_it_is_reachable(engine, settings, as_anonymous):
    real_host = settings.DOCKER_HOST
    tf_engine.reset()
    try:
        assert as_anonymous.get("/health").data["docker"] == "up"
        settings.DOCKER_HOST = f"tcp://127.0.0.1:{dockerlab.free_port()}"
        tf_engine.reset()
        assert as_anonymous.get("/health").data["docker"] == "down"
        settings.DOCKER_HOST = real_host
        tf_engine.reset()
        assert as_anonymous.get("/health").data["docker"] == "up"
    finally:
        settings.DOCKER_HOST = real_host
        tf_engine.reset()
