"""Promotion: run exactly the artifact another workload runs, or refuse with 409."""
import pytest

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy
from tests.support import dockerlab


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_promote_from_runs_the_very_digest_the_source_runs_even_after_the_tag_moved(
    as_admin, make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    staging_digest = publisher.publish(repository, 1)
    staging = make_workload(spec={"image": f"{repository}:live"})
    origin = dispatch(staging, "manual")
    assert origin.pinned_ref == staging_digest
    publisher.publish(repository, 2)  # the tag moves on; promotion must not follow it
    port = dockerlab.free_port()
    production = make_workload(spec={"image": f"{repository}:live",
                                     "ports": [f"127.0.0.1:{port}:8080"]})
    response = as_admin.post(f"/workloads/{production.pk}/promote-from",
                             {"source": staging.pk})
    assert response.status_code == 202, response.data
    promoted = Deploy.objects.get(pk=response.data["id"])
    assert promoted.status == "succeeded" and promoted.reason == "promote"
    assert promoted.promoted_from_id == origin.pk and promoted.pinned_ref == staging_digest
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")


def test_promoting_from_a_workload_of_another_kind_is_409(as_admin, make_workload):
    image = make_workload()
    compose = make_workload(kind="compose", spec={"compose": "services:\n  a:\n    image: x\n"})
    response = as_admin.post(f"/workloads/{image.pk}/promote-from", {"source": compose.pk})
    assert response.status_code == 409 and "compose" in response.data["detail"]


def test_promoting_from_a_workload_that_runs_nothing_is_409(as_admin, make_workload):
    target, source = make_workload(), make_workload()
    response = as_admin.post(f"/workloads/{target.pk}/promote-from", {"source": source.pk})
    assert response.status_code == 409 and source.name in response.data["detail"]
    assert not Deploy.objects.exists()


def test_promoting_from_an_unknown_workload_is_404(as_admin, make_workload):
    target = make_workload()
    response = as_admin.post(f"/workloads/{target.pk}/promote-from", {"source": 4242})
    assert response.status_code == 404


def test_promotion_is_for_staff_only(as_viewer, make_workload):
    target, source = make_workload(), make_workload()
    response = as_viewer.post(f"/workloads/{target.pk}/promote-from", {"source": source.pk})
    assert response.status_code == 403
