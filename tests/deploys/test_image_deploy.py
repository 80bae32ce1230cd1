"""Image workloads deployed on the real engine, through the API."""
import pytest
from django.conf import settings

from apps.deploys.models import Deploy
from apps.workloads import engine as tf_engine
from apps.workloads.models import Container, EventLog, Workload
from tests.support import dockerlab
from tests.support.database import dump_all_rows

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def ours(workload_id):
    """The workload's containers in this test session (other sessions may share the engine
    and number their workloads the same)."""
    return tf_engine.list_containers({"tinyforge.instance": settings.TINYFORGE_INSTANCE,
                                      "tinyforge.workload": str(workload_id)})


def create_and_deploy(client, name, image, port):
    created = client.post("/workloads", {
        "name": name, "kind": "image",
        "spec": {"image": image, "ports": [f"127.0.0.1:{port}:8080"]},
    })
    assert created.status_code == 201, created.data
    deployed = client.post(f"/workloads/{created.data['id']}/deploy")
    assert deployed.status_code == 202, deployed.data
    return created.data["id"], deployed.data


def test_it_deploys_a_workload_created_through_the_api_and_serves_its_page(
    as_admin, registry, publisher, repo_name
):
    digest = publisher.publish(f"{registry.host}/{repo_name}", 1)
    port = dockerlab.free_port()
    workload_id, deploy = create_and_deploy(
        as_admin, "web", f"{registry.host}/{repo_name}:live", port
    )
    assert deploy["status"] == "succeeded", deploy
    assert deploy["pinned_ref"] == digest
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    row = Container.objects.get(workload_id=workload_id)
    assert row.digest == digest and row.state == "running" and row.deploy_id == deploy["id"]
    fetched = as_admin.get(f"/deploys/{deploy['id']}")
    assert fetched.status_code == 200 and "succeeded" in fetched.data["log"]


def test_it_runs_the_new_digest_after_the_tag_moved(as_admin, registry, publisher, repo_name):
    repository = f"{registry.host}/{repo_name}"
    first = publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload_id, deploy = create_and_deploy(as_admin, "mover", f"{repository}:live", port)
    assert deploy["pinned_ref"] == first
    second = publisher.publish(repository, 2)
    assert second != first
    again = as_admin.post(f"/workloads/{workload_id}/deploy")
    assert again.data["status"] == "succeeded" and again.data["pinned_ref"] == second
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
    rows = Container.objects.filter(workload_id=workload_id)
    assert [r.digest for r in rows] == [second]
    labelled = ours(workload_id)
    assert len(labelled) == 1 and labelled[0].labels["tinyforge.deploy"] == str(again.data["id"])


def test_a_bad_tag_fails_and_keeps_the_old_container_serving(
    as_admin, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload_id, _ = create_and_deploy(as_admin, "keeper", f"{repository}:live", port)
    as_admin.patch(f"/workloads/{workload_id}", {
        "spec": {"image": f"{repository}:no-such-tag", "ports": [f"127.0.0.1:{port}:8080"]}
    })
    failed = as_admin.post(f"/workloads/{workload_id}/deploy")
    assert failed.data["status"] == "failed" and failed.data["error_code"] == "pull_failed"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert Container.objects.filter(workload_id=workload_id, state="running").count() == 1


def test_a_bad_command_fails_and_the_previous_container_serves_again(
    as_admin, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload_id, _ = create_and_deploy(as_admin, "cmd", f"{repository}:live", port)
    as_admin.patch(f"/workloads/{workload_id}", {"spec": {
        "image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"],
        "command": "sh -c 'exit 3'",
    }})
    failed = as_admin.post(f"/workloads/{workload_id}/deploy")
    assert failed.data["error_code"] == "start_failed"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert len(ours(workload_id)) == 1


def test_a_port_another_workload_publishes_is_refused_at_save_and_the_holder_keeps_serving(
    as_admin, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    holder_id, _ = create_and_deploy(as_admin, "holder", f"{repository}:live", port)
    squatter = as_admin.post("/workloads", {
        "name": "squatter", "kind": "image",
        "spec": {"image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]},
    })
    assert squatter.status_code == 409 and f"'holder' (#{holder_id})" in squatter.data["detail"]
    assert not Workload.objects.filter(name="squatter").exists()
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")


def test_a_wrong_registry_password_fails_and_leaks_nowhere(
    as_admin, auth_registry, auth_publisher, repo_name
):
    from tests.conftest import REGISTRY_PASSWORD, REGISTRY_USER

    repository = f"{auth_registry.host}/{repo_name}"
    auth_publisher.publish(repository, 1)
    cred = as_admin.post("/registries", {
        "host": auth_registry.host, "username": REGISTRY_USER, "password": REGISTRY_PASSWORD
    })
    assert cred.status_code == 201 and REGISTRY_PASSWORD not in cred.content.decode()
    port = dockerlab.free_port()
    workload_id, deploy = create_and_deploy(as_admin, "private", f"{repository}:live", port)
    assert deploy["status"] == "succeeded", deploy
    wrong = "wrong-canary-" + REGISTRY_PASSWORD[-6:]
    as_admin.delete(f"/registries/{cred.data['id']}")
    as_admin.post("/registries", {
        "host": auth_registry.host, "username": REGISTRY_USER, "password": wrong
    })
    tf_engine.remove_image(f"{repository}:live", force=True)
    failed = as_admin.post(f"/workloads/{workload_id}/deploy")
    assert failed.data["status"] == "failed" and failed.data["error_code"] == "auth_failed"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    responses = [as_admin.get(p).content.decode() for p in (
        "/registries", f"/workloads/{workload_id}", f"/deploys/{failed.data['id']}"
    )]
    stored = dump_all_rows()
    for secret in (REGISTRY_PASSWORD, wrong):
        assert all(secret not in text for text in responses)
        assert secret not in stored


def test_deleting_a_workload_removes_its_containers_and_cascades(
    as_admin, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload_id, deploy = create_and_deploy(
        as_admin, "doomed", f"{repository}:live", dockerlab.free_port()
    )
    assert ours(workload_id)
    response = as_admin.delete(f"/workloads/{workload_id}")
    assert response.status_code == 204
    assert not ours(workload_id)
    assert not Workload.objects.filter(pk=workload_id).exists()
    assert not Deploy.objects.filter(workload_id=workload_id).exists()
    assert not Container.objects.filter(workload_id=workload_id).exists()
    assert not EventLog.objects.filter(workload_id=workload_id).exists()
