"""Health-gated deploys: the new version must pass before the old one goes; auto-rollback."""
import pytest

from apps.deploys.dispatch import dispatch
from apps.workloads.sources import SpecError, get_source
from tests.support import dockerlab


@pytest.mark.parametrize("check, field", [
    ({"http": {"port": 8080}, "command": ["true"]}, "healthcheck"),
    ({"http": {"port": "x"}}, "healthcheck.http"),
    ({"command": "true"}, "healthcheck.command"),
    ({"command": ["true"], "retries": 0}, "healthcheck.retries"),
])
def test_it_rejects_bad_health_checks(check, field):
    with pytest.raises(SpecError) as caught:
        get_source("image").validate({"image": "a/b:c", "healthcheck": check})
    assert field in caught.value.errors


def test_it_fills_health_check_defaults():
    spec = get_source("image").validate({"image": "a/b:c", "healthcheck": {"command": ["true"]}})
    assert spec["healthcheck"]["retries"] == 10 and spec["auto_rollback"] is False


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_failing_health_check_keeps_the_old_version_serving(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    spec = {"image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]}
    workload = make_workload(spec=spec)
    assert dispatch(workload, "manual").status == "succeeded"
    publisher.publish(repository, 2)
    workload.spec = {**spec, "healthcheck": {"http": {"path": "/missing", "port": 8080},
                                             "retries": 2, "interval": 0.3}}
    workload.save()
    failed = dispatch(workload, "manual")
    assert failed.status == "failed" and failed.error_code == "health_failed", failed.log
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert workload.containers.get().deploy_id != failed.pk


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_passing_check_without_published_ports_probes_from_inside(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live", "healthcheck": {
        "http": {"path": "/", "port": 8080}, "retries": 5, "interval": 0.3}})
    deploy = dispatch(workload, "manual")
    assert deploy.status == "succeeded" and "Health check passed" in deploy.log


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_version_that_turns_unhealthy_after_going_live_is_rolled_back(
    make_workload, registry, publisher, repo_name, settings
):
    settings.TINYFORGE_HEALTH_GRACE = 20
    repository = f"{registry.host}/{repo_name}"
    v1 = publisher.publish(repository, 1)
    port = dockerlab.free_port()
    spec = {"image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]}
    workload = make_workload(spec=spec)
    first = dispatch(workload, "manual")
    publisher.publish(repository, 2)
    workload.spec = {**spec, "auto_rollback": True,
                     # serves at first, then loses its page: healthy at deploy, sick soon after
                     "command": ["sh", "-c", "(sleep 2; rm /www/index.html) & "
                                 "exec httpd -f -p 8080 -h /www"],
                     "healthcheck": {"http": {"path": "/", "port": 8080}, "retries": 2,
                                     "interval": 0.5}}
    workload.save()
    second = dispatch(workload, "manual")  # sync cluster: the watch runs before this returns
    assert second.status == "succeeded"
    rollback = workload.deploys.order_by("-id").first()
    assert rollback.reason == "rollback" and rollback.rollback_of_id == first.pk
    assert rollback.status == "succeeded" and rollback.pinned_ref == v1
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert workload.events.filter(kind="unhealthy").exists()
