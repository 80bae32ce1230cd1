"""Chains: a workload names followers deployed after it succeeds; cycles are refused."""
import pytest

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy


def test_a_chain_cycle_is_rejected_with_422(as_admin, make_workload):
    a, b = make_workload(), make_workload()
    assert as_admin.patch(f"/workloads/{a.pk}", {"chain": [b.pk]}).status_code == 200
    response = as_admin.patch(f"/workloads/{b.pk}", {"chain": [a.pk]})
    assert response.status_code == 422 and "chain" in response.data["detail"]
    assert list(b.chain.all()) == []


def test_a_workload_cannot_follow_itself(as_admin, make_workload):
    a = make_workload()
    response = as_admin.patch(f"/workloads/{a.pk}", {"chain": [a.pk]})
    assert response.status_code == 422


def test_an_unknown_follower_is_rejected(as_admin, make_workload):
    response = as_admin.patch(f"/workloads/{make_workload().pk}", {"chain": [99999]})
    assert response.status_code == 422 and "chain" in response.data["detail"]


def test_a_failed_deploy_stops_the_chain(make_workload):
    follower = make_workload()
    leader = make_workload(spec={"image": "127.0.0.1:1/none/web:live"})
    leader.chain.add(follower)
    assert dispatch(leader, "manual").status == "failed"
    assert not Deploy.objects.filter(workload=follower).exists()


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_successful_deploy_of_a_deploys_b_with_reason_chain(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    digest = publisher.publish(repository, 1)
    follower = make_workload(spec={"image": f"{repository}:live"})
    leader = make_workload(spec={"image": f"{repository}:live"}, chain=[follower.pk])
    first = dispatch(leader, "manual")
    assert first.status == "succeeded"
    chained = Deploy.objects.get(workload=follower)
    assert chained.reason == "chain" and chained.chained_from_id == first.pk
    assert chained.status == "succeeded" and chained.pinned_ref == digest
