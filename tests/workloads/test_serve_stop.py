"""`manage.py serve` stops every process it started within 10 s of one signal, quietly.

Each test runs a real `serve` (gunicorn, the django-q2 cluster and the standing sampler, not the
inline test cluster) on its own data directory, instance label and port, and watches its
process tree in /proc.
"""
import signal

import pytest

from tests.support import dockerlab, processes
from tests.support.served import (
    STOP_BOUND_S,
    Served,
    create_and_dispatch,
    deploy_row,
    enqueue,
    make_install,
    sampler_lease_owner,
)


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    """A migrated, private install: environment for its processes and its data directory."""
    return make_install(tmp_path_factory.mktemp("serve-data"))


@pytest.fixture
def served(install, tmp_path):
    running = Served(install, tmp_path)
    yield running
    running.cleanup()


def deploy_status(install, deploy_id):
    return deploy_row(install, deploy_id)["status"]


def test_one_sigterm_stops_web_cluster_and_the_sampler_while_it_samples_within_ten_seconds(
    served, install
):
    served.wait_until_up()
    assert (install["data"] / "run" / "gunicorn.ctl").exists()
    # The standing sampler holds the lease while it samples.
    assert processes.wait_until(lambda: sampler_lease_owner(install), 30), served.text()
    elapsed = served.stop_and_time(signal.SIGTERM)
    print(f"serve stopped {elapsed:.2f} s after SIGTERM with the sampler running")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    assert "Traceback" not in served.text()
    assert "Sampler stopped." in served.text()
    assert sampler_lease_owner(install) == "", "the sampler did not end and release its lease"
    assert not (install["data"] / "run" / "stopping").exists()


def test_a_task_that_ignores_the_stop_request_is_killed_within_the_bound(
    served, install, tmp_path
):
    # Like a deploy in flight: a worker busy (with a child process of its own, as a compose
    # deploy has) on something that does not poll the stop flag.
    served.wait_until_up()
    marker = tmp_path / "task-started"
    enqueue(install, "subprocess.run", ["sh", "-c", f"touch {marker}; sleep 120"])
    assert processes.wait_until(marker.exists, 30), served.text()
    elapsed = served.stop_and_time(signal.SIGTERM)
    print(f"serve stopped {elapsed:.2f} s after SIGTERM with a 120 s task in flight")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    assert "Traceback" not in served.text()
    assert "did not stop in time" in served.text()


def test_one_ctrl_c_stops_everything_quietly(served):
    served.wait_until_up()
    elapsed = served.stop_and_time(signal.SIGINT)
    print(f"serve stopped {elapsed:.2f} s after SIGINT")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    assert "Traceback" not in served.text() and "KeyboardInterrupt" not in served.text()


def test_ctrl_c_twice_stops_at_once_without_a_traceback(served):
    served.wait_until_up()
    elapsed = served.stop_and_time(signal.SIGINT, signal.SIGINT)
    print(f"serve stopped {elapsed:.2f} s after two SIGINTs")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    text = served.text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "Stopped." in text


@pytest.mark.docker
def test_one_sigterm_during_a_deploy_stops_everything_within_ten_seconds(
    install, tmp_path, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    # A long start grace keeps the deploy busy (waiting on its new container) when the stop comes.
    served = Served(install, tmp_path, TINYFORGE_START_GRACE="60")
    try:
        served.wait_until_up()
        [(_, deploy_id)] = create_and_dispatch(install, [f"{repository}:live"])
        assert processes.wait_until(
            lambda: deploy_status(install, deploy_id) == "running", 30), served.text()
        elapsed = served.stop_and_time(signal.SIGTERM)
        print(f"serve stopped {elapsed:.2f} s after SIGTERM with a deploy in flight")
        assert elapsed <= STOP_BOUND_S
        assert served.proc.returncode == 0
        assert "Traceback" not in served.text()
        # Not finished by the stop: the crash recovery (reconcile, serve at start) settles it.
        assert deploy_status(install, deploy_id) in ("running", "interrupted")
    finally:
        served.cleanup()
        dockerlab.remove_containers(f"tinyforge.instance={install['env']['TINYFORGE_INSTANCE']}")
