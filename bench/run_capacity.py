"""Deploy capacity while the sampler runs: two deploys of two workloads, dispatched together.

    .venv/bin/python bench/run_capacity.py --rounds 3                 # as root, local engine
    .venv/bin/python bench/run_capacity.py --rounds 3 --baseline main # and the code at main

Runs `manage.py serve` as `make run` does (gunicorn, the task cluster with the default
TINYFORGE_WORKERS=2, and however that code samples) on a fresh data directory under /tmp, and
waits until the sampler holds its lease. Each round creates two image workloads and dispatches
a deploy of each to the cluster at once; every deploy waits out ``--grace`` seconds of start
grace, so one deploy takes a few seconds. Reports, per round, the seconds from the first
dispatch until both deploys finished and how long the two ran side by side (negative: one
waited for the other). The other schedules (reconcile, image cleanup, rollups) are moved a day
ahead so only the sampler competes with the deploys for a worker.

``--baseline REF`` measures the code at git ``REF`` too: an export of that tree (``git
archive``) under /tmp, run with this virtualenv, so one run gives both figures.
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import dockerlab  # noqa: E402

SAMPLER_SCHEDULE = "tinyforge-stats-sampler"  # how earlier versions ran the sampler


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise SystemExit(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.2)


class Install:
    """A private install of the code in ``tree``: data directory, environment, its serve."""

    def __init__(self, tree, grace):
        self.tree = tree
        self.data = Path(tempfile.mkdtemp(prefix="tf-capacity-"))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TINYFORGE_", "DJANGO_", "DATABASE_URL"))}
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "tinyforge.settings",
            "TINYFORGE_DATA_DIR": str(self.data),
            "TINYFORGE_INSTANCE": "capbench-" + uuid.uuid4().hex[:8],
            "TINYFORGE_START_GRACE": str(grace),
            "TINYFORGE_LOG_LEVEL": "WARNING",
        })
        self.serve = None
        self.log = self.data / "serve.log"

    def manage(self, *args):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=self.tree, env=self.env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(args[:2])} failed:\n{done.stderr}")
        return done.stdout

    def query(self, sql, *params):
        with sqlite3.connect(self.data / "tinyforge.sqlite3", timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def start(self):
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("shell", "-c", (
            "from datetime import timedelta\nfrom django.utils import timezone\n"
            "from django_q.models import Schedule\n"
            f"Schedule.objects.exclude(name={SAMPLER_SCHEDULE!r}).update("
            "next_run=timezone.now() + timedelta(days=1))"))
        port = dockerlab.free_port()
        with open(self.log, "wb") as out:
            self.serve = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"],
                cwd=self.tree, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(lambda: self._answers(port), 60, "the web server")
        # The scheduler fires a due schedule within 30 s of starting.
        wait_until(lambda: self.query(
            "SELECT owner FROM metrics_samplerlease WHERE id = 1 AND owner != ''"), 90,
            "the sampler holding its lease")

    def _answers(self, port):
        try:
            return dockerlab.http_get(f"http://127.0.0.1:{port}/admin/login/")[0] == 200
        except OSError:
            return False

    def deploy_two(self, images):
        tag = uuid.uuid4().hex[:6]
        code = ["from apps.workloads.actions import create_workload",
                "from apps.deploys.dispatch import dispatch",
                "made = [create_workload(name=f'cap{i}-" + tag + "', kind='image', "
                "spec={'image': image, 'ports': [f'127.0.0.1:{port}:8080']}) "
                f"for i, (image, port) in enumerate(zip({images!r}, "
                f"{[dockerlab.free_port() for _ in images]!r}))]",
                "print('ids', *[dispatch(w, 'api', enqueue=True).pk for w in made])"]
        out = self.manage("shell", "-c", "\n".join(code)).splitlines()[-1].split()[1:]
        ids = [int(i) for i in out]
        marks = ",".join("?" * len(ids))

        def rows():
            found = self.query("SELECT status, created_at, started_at, finished_at FROM "
                               f"deploys_deploy WHERE id IN ({marks})", *ids)
            return found if all(row[3] for row in found) else None

        done = wait_until(rows, 300, "both deploys to finish")
        when = [[datetime.fromisoformat(v) for v in row[1:]] for row in done]
        return {
            "statuses": [row[0] for row in done],
            "both_done_s": (max(w[2] for w in when) - min(w[0] for w in when)).total_seconds(),
            "side_by_side_s": (min(w[2] for w in when)
                               - max(w[1] for w in when)).total_seconds(),
            "each_s": [round((w[2] - w[1]).total_seconds(), 2) for w in when],
        }

    def stop(self):
        if self.serve and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
        dockerlab.remove_containers(f"tinyforge.instance={self.env['TINYFORGE_INSTANCE']}")
        shutil.rmtree(self.data, ignore_errors=True)


def measure(tree, images, args):
    install = Install(tree, args.grace)
    try:
        install.start()
        return [install.deploy_two(images) for _ in range(args.rounds)]
    finally:
        install.stop()


def exported(ref):
    tree = Path(tempfile.mkdtemp(prefix="tf-capacity-base-"))
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def summary(label, rounds):
    both = [r["both_done_s"] for r in rounds]
    side = [r["side_by_side_s"] for r in rounds]
    return (f"| {label} | {statistics.median(both):.1f} s ({min(both):.1f}–{max(both):.1f}) | "
            f"{statistics.median(side):.1f} s | "
            f"{', '.join('/'.join(s[:1] for s in r['statuses']) for r in rounds)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grace", type=float, default=5.0,
                        help="TINYFORGE_START_GRACE: how long each deploy waits on its container")
    parser.add_argument("--baseline", metavar="REF", help="also measure the code at git REF")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not dockerlab.engine_available():
        raise SystemExit("no Docker engine")
    work = Path(tempfile.mkdtemp(prefix="tf-capacity-images-"))
    registry = dockerlab.Registry().start(work)
    images = []
    try:
        for name in ("a", "b"):
            ref = f"{registry.host}/capbench/{name}-{uuid.uuid4().hex[:6]}:live"
            dockerlab.build_web_image(ref, name, work)
            dockerlab.push(ref)
            images.append(ref)
        results = {}
        if args.baseline:
            tree = exported(args.baseline)
            try:
                results[args.baseline] = measure(tree, images, args)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
        results["this tree"] = measure(ROOT, images, args)
    finally:
        registry.stop()
        for ref in images:
            dockerlab.remove_image(ref)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    print(f"\nTwo deploys dispatched together, {args.grace:g} s start grace each, "
          f"TINYFORGE_WORKERS=2, sampler running; {args.rounds} round(s).\n")
    print("| code | first dispatch → both finished, median (min–max) | side by side, median "
          "| statuses |")
    print("| --- | --- | --- | --- |")
    for label, rounds in results.items():
        print(summary(label, rounds))


if __name__ == "__main__":
    main()
