"""With the sampler running, every task worker is there for deploys: two deploys of two
workloads run at the same time on the default two workers.

A real `manage.py serve` (gunicorn, the django-q2 cluster, the standing sampler) on a private
install and the real engine. Each deploy waits out a start grace, so it takes a few seconds;
the ledger's started_at/finished_at show whether the two ran side by side.
"""
import pytest

from tests.support import dockerlab, processes
from tests.support.served import (
    Served,
    create_and_dispatch,
    deploy_row,
    make_install,
    postpone_schedules,
    query,
    sampler_lease_owner,
)

pytestmark = pytest.mark.docker

START_GRACE_S = 4
DEFAULT_WORKERS = 2


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    return make_install(tmp_path_factory.mktemp("capacity-data"), workers=DEFAULT_WORKERS)


def last_sampled_tick(install):
    rows = query(install, "SELECT last_tick FROM metrics_samplerlease WHERE id = 1")
    return rows[0][0] if rows else 0


def test_with_the_sampler_running_two_workloads_deploy_side_by_side_on_two_workers(
    install, tmp_path, registry, publisher, repo_name
):
    images = []
    for name in ("a", "b"):
        repository = f"{registry.host}/{repo_name}-{name}"
        publisher.publish(repository, 1)
        images.append(f"{repository}:live")
    postpone_schedules(install)
    served = Served(install, tmp_path, TINYFORGE_START_GRACE=str(START_GRACE_S))
    try:
        served.wait_until_up()
        assert processes.wait_until(lambda: last_sampled_tick(install), 30), served.text()
        sampler = sampler_lease_owner(install)
        assert sampler, "the standing sampler holds no lease"

        deploy_ids = [deploy for _, deploy in create_and_dispatch(install, images)]
        assert processes.wait_until(
            lambda: all(deploy_row(install, d)["finished_at"] for d in deploy_ids), 60
        ), served.text()
        rows = [deploy_row(install, d) for d in deploy_ids]
        assert [row["status"] for row in rows] == ["succeeded", "succeeded"], served.text()
        for row in rows:
            assert (row["finished_at"] - row["started_at"]).total_seconds() >= START_GRACE_S
        both_running = (min(row["finished_at"] for row in rows)
                        - max(row["started_at"] for row in rows)).total_seconds()
        print(f"the two deploys ran side by side for {both_running:.2f} s")
        assert both_running > 0, rows

        # The sampler kept its lease and kept sampling meanwhile.
        finished = max(row["finished_at"] for row in rows).timestamp()
        assert processes.wait_until(lambda: last_sampled_tick(install) >= finished, 15)
        assert sampler_lease_owner(install) == sampler
    finally:
        served.cleanup()
        dockerlab.remove_containers(f"tinyforge.instance={install['env']['TINYFORGE_INSTANCE']}")
