"""A real `manage.py serve` (gunicorn, the django-q2 cluster and the standing sampler, not the
inline test cluster) on a private install: its own data directory, instance label and port.
Its process tree is watched from the outside through /proc."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings

from tests.support import dockerlab, processes

ROOT = Path(settings.BASE_DIR)
STOP_BOUND_S = 10
# main + sentinel + workers + monitor + pusher
CLUSTER_OVERHEAD = 4


def make_install(data, workers=2):
    """Migrate a private install in ``data``; returns {"env", "data", "workers"}."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TINYFORGE_", "DJANGO_", "DATABASE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "tinyforge.settings",
        "TINYFORGE_DATA_DIR": str(data),
        "TINYFORGE_INSTANCE": "serve-" + uuid.uuid4().hex[:8],
        "TINYFORGE_WORKERS": str(workers),
        "TINYFORGE_STATS_INTERVAL": "5",
        # serve starts its own Caddy when none answers: on ports of this install only.
        "TINYFORGE_PROXY_ADMIN": f"http://127.0.0.1:{dockerlab.free_port()}",
        "TINYFORGE_PROXY_HTTP": f"127.0.0.1:{dockerlab.free_port()}",
    })
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    return {"env": env, "data": data, "workers": workers}


def query(install, sql, *params):
    """Rows of ``sql`` on the install's SQLite database (read from outside its processes)."""
    with sqlite3.connect(install["data"] / "tinyforge.sqlite3", timeout=10) as db:
        return db.execute(sql, params).fetchall()


def sampler_lease_owner(install):
    rows = query(install, "SELECT owner FROM metrics_samplerlease WHERE id = 1")
    return rows[0][0] if rows else ""


def deploy_row(install, deploy_id):
    """{"status", "started_at", "finished_at"} of a ledger row (datetimes or None)."""
    rows = query(install, "SELECT status, started_at, finished_at FROM deploys_deploy "
                          "WHERE id = ?", deploy_id)
    if not rows:
        return {"status": "", "started_at": None, "finished_at": None}
    status, started, finished = rows[0]
    return {"status": status,
            "started_at": datetime.fromisoformat(started) if started else None,
            "finished_at": datetime.fromisoformat(finished) if finished else None}


def django_shell(install, code):
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                          env=install["env"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def enqueue(install, func, *args):
    django_shell(install, f"from django_q.tasks import async_task; async_task({func!r}, *{args!r})")


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

    def child(self, command_ending):
        # A child's forked processes share its command line: take serve's own child.
        for pid in processes.children(self.proc.pid):
            if processes.cmdline(pid).rstrip().endswith(command_ending):
                return pid
        return None

    def cluster_pid(self):
        return self.child("qcluster")

    def sampler_pid(self):
        return self.child("sample_stats --forever")

    def expected_family(self):
        """serve, gunicorn master + 2 workers, the cluster, the sampler."""
        return 1 + 3 + CLUSTER_OVERHEAD + self.install["workers"] + 1

    def wait_until_up(self):
        def web_answers():
            try:
                return dockerlab.http_get(f"http://127.0.0.1:{self.port}/admin/login/")[0] == 200
            except OSError:
                return False

        def cluster_complete():
            pid = self.cluster_pid()
            return pid and len(processes.still_alive((), sessions=[pid])) >= (
                CLUSTER_OVERHEAD + self.install["workers"])

        assert processes.wait_until(web_answers, 30), self.text()
        assert processes.wait_until(cluster_complete, 30), self.text()
        assert processes.wait_until(self.sampler_pid, 30), self.text()
        self.known = processes.family(self.proc.pid)

    def stop_and_time(self, *signums, between=0.3):
        """Send the signals to serve alone (a terminal's Ctrl-C reaches only serve: its
        children run in sessions of their own); seconds until the whole family is gone."""
        family = processes.family(self.proc.pid)
        sessions = {pid for pid in family if pid != self.proc.pid}
        assert len(family) >= self.expected_family(), family
        assert self.sampler_pid() in family
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


def postpone_schedules(install, keep=()):
    """Move every django-q2 schedule except ``keep`` a day ahead, so a test that times
    deploys does not race the minute reconcile or the daily image cleanup for a worker."""
    django_shell(install, (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from django_q.models import Schedule\n"
        f"Schedule.objects.exclude(name__in={list(keep)!r}).update("
        "next_run=timezone.now() + timedelta(days=1))"
    ))


def create_and_dispatch(install, images, port_for=dockerlab.free_port):
    """Create one image workload per image (each publishing a free port) and dispatch a deploy
    of each to the task cluster, in one shell; returns [(workload id, deploy id)]."""
    tag = uuid.uuid4().hex[:6]
    lines = ["from apps.workloads.actions import create_workload",
             "from apps.deploys.dispatch import dispatch",
             "made = []"]
    for index, image in enumerate(images):
        lines.append(
            f"made.append(create_workload(name='w{index}-{tag}', kind='image', "
            f"spec={{'image': {image!r}, 'ports': ['127.0.0.1:{port_for()}:8080']}}))")
    lines += ["deploys = [dispatch(w, 'api', enqueue=True) for w in made]",
              "print('ids', *[f'{w.pk}:{d.pk}' for w, d in zip(made, deploys)])"]
    out = django_shell(install, "\n".join(lines)).splitlines()[-1].split()[1:]
    return [tuple(int(part) for part in pair.split(":")) for pair in out]
