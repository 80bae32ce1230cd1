"""`manage.py serve` stops every process it started within 10 s of one signal, quietly.

Each test runs a real `serve` (gunicorn + the django-q2 cluster, not the inline test cluster)
on its own data directory, instance label and port, and watches its process tree in /proc.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import dockerlab, processes

STOP_BOUND_S = 10
ROOT = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    """A migrated, private install: environment for its processes and its data directory."""
    data = tmp_path_factory.mktemp("serve-data")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TINYFORGE_", "DJANGO_", "DATABASE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "tinyforge.settings",
        "TINYFORGE_DATA_DIR": str(data),
        "TINYFORGE_INSTANCE": "serve-" + uuid.uuid4().hex[:8],
        "TINYFORGE_WORKERS": "2",
        "TINYFORGE_STATS_INTERVAL": "5",
    })
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    return {"env": env, "data": data}


class Served:
    def __init__(self, install, tmp_path, **env):
        self.install = install
        self.port = dockerlab.free_port()
        self.output = tmp_path / "serve.log"
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT, env={**install["env"], **env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self):
        return self.output.read_text(errors="replace")

    def cluster_pid(self):
        # The cluster's forked processes share its command line: take serve's own child.
        for pid in processes.children(self.proc.pid):
            if processes.cmdline(pid).rstrip().endswith("qcluster"):
                return pid
        return None

    def wait_until_up(self):
        def web_answers():
            try:
                return dockerlab.http_get(f"http://127.0.0.1:{self.port}/admin/login/")[0] == 200
            except OSError:
                return False

        def cluster_complete():
            # main + sentinel + 2 workers + monitor + pusher
            pid = self.cluster_pid()
            return pid and len(processes.still_alive((), sessions=[pid])) >= 6

        assert processes.wait_until(web_answers, 30), self.text()
        assert processes.wait_until(cluster_complete, 30), self.text()
        self.known = processes.family(self.proc.pid)

    def stop_and_time(self, *signums, between=0.3):
        """Send the signals to serve alone (a terminal's Ctrl-C reaches only serve: its
        children run in sessions of their own); seconds until the whole family is gone."""
        family = processes.family(self.proc.pid)
        sessions = {pid for pid in family if pid != self.proc.pid}
        assert len(family) >= 9, family  # serve, gunicorn master + 2 workers, the cluster's 6
        started = time.monotonic()
        for index, signum in enumerate(signums):
            if index:
                time.sleep(between)
            self.proc.send_signal(signum)
        gone = processes.wait_until(
            lambda: not processes.still_alive(family, sessions), STOP_BOUND_S + 5)
        elapsed = time.monotonic() - started
        assert gone, (processes.still_alive(family, sessions), self.text())
        self.proc.wait(timeout=5)
        return elapsed

    def cleanup(self):
        known = getattr(self, "known", set()) | processes.family(self.proc.pid)
        for pid in processes.still_alive(known, known - {self.proc.pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=5)


@pytest.fixture
def served(install, tmp_path):
    running = Served(install, tmp_path)
    yield running
    running.cleanup()


def sampler_lease_owner(install):
    with sqlite3.connect(install["data"] / "tinyforge.sqlite3", timeout=10) as db:
        row = db.execute("SELECT owner FROM metrics_samplerlease WHERE id = 1").fetchone()
    return row[0] if row else ""


def django_shell(install, code):
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                          env=install["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def deploy_status(install, deploy_id):
    with sqlite3.connect(install["data"] / "tinyforge.sqlite3", timeout=10) as db:
        row = db.execute("SELECT status FROM deploys_deploy WHERE id = ?", (deploy_id,)).fetchone()
    return row[0] if row else ""


def enqueue(install, func, *args):
    django_shell(install, f"from django_q.tasks import async_task; async_task({func!r}, *{args!r})")


def test_one_sigterm_stops_web_cluster_and_a_sampler_run_in_flight_within_ten_seconds(
    served, install
):
    served.wait_until_up()
    assert (install["data"] / "run" / "gunicorn.ctl").exists()
    enqueue(install, "apps.metrics.tasks.sample_for_a_minute")
    assert processes.wait_until(lambda: sampler_lease_owner(install), 30), served.text()
    elapsed = served.stop_and_time(signal.SIGTERM)
    print(f"serve stopped {elapsed:.2f} s after SIGTERM with a sampler run in flight")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    assert "Traceback" not in served.text()
    assert sampler_lease_owner(install) == "", "the sampler run did not end and release its lease"
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
        workload_id, deploy_id = django_shell(install, (
            "from apps.workloads.actions import create_workload\n"
            "from apps.deploys.dispatch import dispatch\n"
            f"w = create_workload(name='inflight-{uuid.uuid4().hex[:6]}', kind='image', "
            f"spec={{'image': '{repository}:live', "
            f"'ports': ['127.0.0.1:{dockerlab.free_port()}:8080']}})\n"
            "d = dispatch(w, 'api', enqueue=True)\n"
            "print('ids', w.pk, d.pk)"
        )).splitlines()[-1].split()[1:]
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
