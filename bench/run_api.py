"""API under concurrency: N clients mixing reads, PATCHes and deploys while the sampler runs.

    .venv/bin/python bench/run_api.py --clients 20 --seconds 30        # as root, local engine

Runs the production stack as `make run` does (`manage.py serve`: gunicorn + the django-q2
cluster, whose schedule starts the sampler) on a fresh SQLite file under /tmp, seeded with
``--workloads`` workloads × ``--ledger`` ledger rows. A few workloads run a real local image
(their deploys start containers on the engine); the rest point at a registry that refuses, so
their deploys fail fast. Load starts only once the sampler holds its lease, and every client
talks to 127.0.0.1 over a kept-alive connection, for a bounded time. Prints requests/s and
p50/p95/p99 (overall and per operation), 5xx answers, transport errors and "database is
locked" lines in the server log. Before the load, one client times each operation alone
(including the admin changelist and workload page, logged in by session) for the p50 figures.

``--baseline REF`` runs the same measurement against the code at git ``REF`` too (a temporary
worktree with this benchmark copied in), so the report can give ratios from one run;
``--write`` puts the table into bench/RESULTS.md.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import host_context, percentile  # noqa: E402
from tests.support import dockerlab  # noqa: E402

SECTION = "## API under concurrency"
SINGLE = ("list", "detail", "history", "stats", "admin_list", "admin_page")
SINGLE_REPEAT = 30
ADMIN_PASSWORD = "bench-" + uuid.uuid4().hex
# (operation, weight): reads dominate, as on a real dashboard; writes are a steady trickle.
MIX = (("list", 35), ("detail", 20), ("history", 15), ("stats", 10), ("patch", 12),
       ("deploy", 8))


def seed(workloads, ledger, live, image):
    """Workloads and ledger rows through the ORM (the same rows a real install would hold)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.deploys.models import Deploy
    from apps.workloads import actions
    from apps.workloads.models import ApiToken

    user = get_user_model().objects.create_superuser("bench", "", ADMIN_PASSWORD)
    ids = []
    for n in range(workloads):
        spec = ({"image": image, "local": True, "command": ["sleep", "3600"]} if n < live
                else {"image": "127.0.0.1:1/bench/none:live"})
        workload = actions.create_workload(
            name=f"bench-{n}", kind="image", spec=spec,
            env=[{"key": "GREETING", "value": "hi"},
                 {"key": "TOKEN", "value": "s", "secret": True}],
        )
        ids.append(workload.pk)
        now = timezone.now()
        Deploy.objects.bulk_create([
            Deploy(workload=workload, reason="api", source_kind="image", status="succeeded",
                   pinned_ref=f"sha256:{i:064x}", started_at=now, finished_at=now)
            for i in range(ledger)
        ])
    return ids, ApiToken.issue(user)[1]


def wait_until(predicate, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise SystemExit(f"run_api: {what} not within {deadline_s} s")


def server_answers(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/api/health")
        return connection.getresponse().status == 200
    except OSError:
        return False


def sampler_running():
    from django.db import close_old_connections

    from apps.metrics.models import SamplerLease

    close_old_connections()
    lease = SamplerLease.objects.filter(pk=1).first()
    return lease is not None and bool(lease.owner) and lease.expires_at > time.time()


class Client(threading.Thread):
    def __init__(self, port, token, ids, until, seed_value):
        super().__init__(daemon=True)
        self.port, self.ids, self.until = port, ids, until
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.random = random.Random(seed_value)
        self.latencies = defaultdict(list)
        self.statuses = defaultdict(int)
        self.errors = 0
        self.connection = None

    def request(self, method, path, body=None):
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        return None

    def one(self, operation):
        workload = self.random.choice(self.ids)
        if operation == "list":
            return self.request("GET", "/api/workloads")
        if operation == "detail":
            return self.request("GET", f"/api/workloads/{workload}")
        if operation == "history":
            return self.request("GET", f"/api/workloads/{workload}/deploys")
        if operation == "stats":
            return self.request("GET", f"/api/workloads/{workload}/stats/history?window=6h")
        if operation == "patch":
            body = json.dumps({"title": f"t{self.random.randrange(10**6)}"})
            return self.request("PATCH", f"/api/workloads/{workload}", body)
        return self.request("POST", f"/api/workloads/{workload}/deploy", "")

    def run(self):
        operations = [name for name, weight in MIX for _ in range(weight)]
        while time.monotonic() < self.until:
            operation = self.random.choice(operations)
            started = time.perf_counter()
            try:
                status = self.one(operation)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                continue
            self.latencies[operation].append(time.perf_counter() - started)
            self.statuses[status] += 1

class AdminSession:
    """A browser-like admin session: log in through the login form, keep the cookies."""

    def __init__(self, port):
        import http.cookiejar
        import urllib.request

        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def login(self, username, password):
        import urllib.parse

        page = self.opener.open(self.base + "/admin/login/", timeout=30).read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "username": username,
                                       "password": password, "next": "/admin/"}).encode()
        answer = self.opener.open(self.base + "/admin/login/?next=/admin/", data, timeout=30)
        if "/admin/login/" in answer.geturl():
            raise SystemExit("run_api: admin login failed")

    def get(self, path):
        with self.opener.open(self.base + path, timeout=60) as answer:
            answer.read()
            return answer.status


def time_single(port, token, ids):
    """p50 seconds of each operation with one client and nothing else going on."""
    client = Client(port, token, ids, 0, 0)
    admin = AdminSession(port)
    admin.login("bench", ADMIN_PASSWORD)
    workload = ids[len(ids) // 2]
    calls = {
        "list": lambda: client.request("GET", "/api/workloads"),
        "detail": lambda: client.request("GET", f"/api/workloads/{workload}"),
        "history": lambda: client.request("GET", f"/api/workloads/{workload}/deploys"),
        "stats": lambda: client.request(
            "GET", f"/api/workloads/{workload}/stats/history?window=6h"),
        "admin_list": lambda: admin.get("/admin/workloads/workload/"),
        "admin_page": lambda: admin.get(f"/admin/workloads/workload/{workload}/change/"),
    }
    figures = {}
    for name in SINGLE:
        calls[name]()  # warm: first use of a code path and its caches
        times = []
        for _ in range(SINGLE_REPEAT):
            started = time.perf_counter()
            status = calls[name]()
            times.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"run_api: {name} answered {status}")
        figures[name] = percentile(times, 50)
    return figures


def run_load(port, token, ids, clients, seconds):
    until = time.monotonic() + seconds
    threads = [Client(port, token, ids, until, n) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - started
    latencies, statuses, errors = defaultdict(list), defaultdict(int), 0
    for thread in threads:
        errors += thread.errors
        for operation, values in thread.latencies.items():
            latencies[operation].extend(values)
        for status, count in thread.statuses.items():
            statuses[status] += count
    return latencies, statuses, errors, elapsed


def summarize(latencies, statuses, errors, elapsed, locked):
    """Plain figures (seconds, counts) of one load run: what --json prints."""
    every = [value for values in latencies.values() for value in values]
    operations = {}
    for operation, _weight in MIX:
        values = latencies.get(operation) or [0]
        operations[operation] = {"requests": len(latencies.get(operation) or []),
                                 **{f"p{pct}": percentile(values, pct) for pct in (50, 95, 99)}}
    every = every or [0]
    return {
        "operations": operations,
        "all": {"requests": sum(o["requests"] for o in operations.values()),
                **{f"p{pct}": percentile(every, pct) for pct in (50, 95, 99)}},
        "rps": sum(o["requests"] for o in operations.values()) / elapsed,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "server_errors": sum(count for status, count in statuses.items() if status >= 500),
        "transport_errors": errors,
        "locked": locked,
    }


def _ms(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def report(now, args, base=None, base_ref=""):
    """The Markdown block for RESULTS.md (and the terminal)."""
    load = now["load"]
    rows = [
        f"{args.workloads} workloads × {args.ledger} ledger rows, sampler running; "
        f"{now['host']}.",
        "",
        "One client, each operation alone (p50 of " + str(SINGLE_REPEAT) + " calls):",
        "",
        "| operation | p50 |" + (f" `{base_ref}` p50 | speed-up |" if base else ""),
        "| --- | ---: |" + (" ---: | ---: |" if base else ""),
    ]
    for name in SINGLE:
        line = f"| {name} | {_ms(now['single'][name])} |"
        if base:
            line += (f" {_ms(base['single'][name])} | "
                     f"{base['single'][name] / now['single'][name]:.1f}× |")
        rows.append(line)
    rows += [
        "",
        f"{args.clients} clients for {args.seconds} s:",
        "",
        "| operation | requests | p50 | p95 | p99 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for operation, figures in [*load["operations"].items(), ("**all**", load["all"])]:
        rows.append(f"| {operation} | {figures['requests']} | {_ms(figures['p50'])} | "
                    f"{_ms(figures['p95'])} | {_ms(figures['p99'])} |")
    rows += [
        "",
        f"Throughput **{load['rps']:.1f} requests/s**; answers by status: "
        + ", ".join(f"{status}: {count}" for status, count in load["statuses"].items())
        + f"; **5xx: {load['server_errors']}**, transport errors: {load['transport_errors']}, "
        f"**\"database is locked\" in the server log: {load['locked']}**.",
    ]
    if base:
        old = base["load"]
        rows.append(
            f"Baseline `{base_ref}` in the same run: {old['rps']:.1f} requests/s, p50 "
            f"{_ms(old['all']['p50'])}, p95 {_ms(old['all']['p95'])}, p99 "
            f"{_ms(old['all']['p99'])}, 5xx {old['server_errors']}, locked {old['locked']}: "
            f"throughput **{load['rps'] / max(old['rps'], 1e-9):.1f}×** the baseline.")
    return "\n".join(rows)


def write_results(text, command):
    results = ROOT / "bench" / "RESULTS.md"
    content = results.read_text()
    block = f"{SECTION}\n\n```sh\n{command}\n```\n\n{text}\n"
    if SECTION in content:
        head, _sep, tail = content.partition(SECTION)
        rest = re.search(r"\n## ", tail)
        content = head + block + ("\n" + tail[rest.start() + 1:] if rest else "")
    else:
        content = content.rstrip() + "\n\n" + block
    results.write_text(content)


def measure(args):
    """Seed a fresh install, start `manage.py serve`, time one client, then the load."""
    data_dir = Path(tempfile.mkdtemp(prefix="tf-bench-api-"))
    instance = "bench-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "TINYFORGE_DATA_DIR": str(data_dir), "TINYFORGE_INSTANCE": instance,
           "TINYFORGE_SECRET_KEY": uuid.uuid4().hex * 2, "TINYFORGE_LOG_LEVEL": "WARNING",
           "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
           "DJANGO_SETTINGS_MODULE": "tinyforge.settings"}
    env.pop("CI", None)
    os.environ.update({k: env[k] for k in ("TINYFORGE_DATA_DIR", "TINYFORGE_INSTANCE",
                                           "TINYFORGE_SECRET_KEY", "DATABASE_URL",
                                           "DJANGO_SETTINGS_MODULE", "TINYFORGE_LOG_LEVEL")})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    image = f"tf-bench-api-{uuid.uuid4().hex[:8]}:live"
    dockerlab.build_web_image(image, "bench", Path(tempfile.mkdtemp(prefix="tf-bench-img-")))
    ids, token = seed(args.workloads, args.ledger, args.live, image)

    port = dockerlab.free_port()
    log_path = data_dir / "server.log"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: server_answers(port), 60, "the server answering")
        wait_until(sampler_running, 120, "the sampler holding its lease")
        single = time_single(port, token, ids)
        load = run_load(port, token, ids, args.clients, args.seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        dockerlab.remove_containers(f"tinyforge.instance={instance}")
        dockerlab.remove_image(image)
    locked = log_path.read_text(errors="replace").lower().count("database is locked")
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"host": host_context(), "single": single, "load": summarize(*load, locked)}


def measure_baseline(ref, args):
    """The same measurement on the code at ``ref``: a detached worktree with this benchmark
    (and its helpers) copied in, run in its own process."""
    tree = Path(tempfile.mkdtemp(prefix="tf-bench-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT,
                   check=True, capture_output=True)
    try:
        for name in ("bench/run_api.py", "bench/common.py", "tests/support/dockerlab.py"):
            shutil.copy(ROOT / name, tree / name)
        out = tree / "figures.json"
        subprocess.run(
            [sys.executable, str(tree / "bench" / "run_api.py"), "--json", str(out),
             "--clients", str(args.clients), "--seconds", str(args.seconds),
             "--workloads", str(args.workloads), "--ledger", str(args.ledger),
             "--live", str(args.live)],
            cwd=tree, check=True,
        )
        return json.loads(out.read_text())
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--ledger", type=int, default=30)
    parser.add_argument("--live", type=int, default=5, help="workloads that run a real image")
    parser.add_argument("--baseline", metavar="REF", help="also measure the code at git REF")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures to FILE")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if not dockerlab.engine_available():
        raise SystemExit("run_api: needs a Docker engine (scripts/engine.sh)")
    base = measure_baseline(args.baseline, args) if args.baseline else None
    now = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(now))
        return 0
    text = report(now, args, base, args.baseline or "")
    print(text)
    if args.write:
        command = ".venv/bin/python bench/run_api.py " + " ".join(sys.argv[1:])
        write_results(text, command.replace(" --write", ""))
    load = now["load"]
    return 1 if load["server_errors"] or load["locked"] or load["transport_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
