"""Deploys and rollbacks under load: the published-port path (stop-first) vs the proxy path.

    .venv/bin/python bench/run_swap.py --write        # as root, local engine, caddy on PATH

On a fresh SQLite file and a private registry (tests/support/dockerlab, as the tests do), one
image workload per path runs a busybox httpd whose page names its version. ``--clients``
keep-alive clients (http.client, 127.0.0.1 only) poll it for the whole sequence while this
process dispatches, inline and one after another:

1. **deploy v2** (a new image under the same tag);
2. **failed deploy**: an image whose command exits at once;
3. **health check fails**: an image that runs, but not on the checked port;
4. **rollback** to v1 (its artifact is still present locally).

Each request records when it started, its latency, whether it failed (transport error or a
status other than 200) and the version in the body. Per step: requests, failures, requests/s,
p50/p99 in the window from the dispatch's start until it returned (+ ``--settle`` seconds), the
longest stretch without a successful answer, and the time from the dispatch's start to the
first answer of the new version. The steady state is ``--steady`` seconds of the same load
before the first dispatch.

- **published port** (baseline, stop-first): spec ``ports: ["127.0.0.1:P:8080"]``, polled at
  127.0.0.1:P directly.
- **proxy, compose blue/green**: a two-service stack whose ``web`` service is routed
  (``routes``); each deploy starts the other colour's project beside the serving one. Its
  "health check fails" step is the readiness check (no answer on ``http_port``), since a
  stack's spec has no health check of its own.
- **proxy** (start-first): spec ``domains: ["bench.tinyforge.test"], http_port: 8080``, polled
  through Caddy at TINYFORGE_PROXY_HTTP with that Host header. Caddy is started like
  ``manage.py serve`` does (``apps.workloads.embedded_proxy``) on free ports. Also measured:
  one client's p50 through Caddy vs dialing the container's IP directly (the proxy's added
  latency). Skipped, with a note, when ``apps.workloads.proxy`` is not in this tree.

Clients and dispatches share this process (threads): the figures include that contention,
equally on both paths. ``--write`` puts the table into bench/RESULTS.md.
"""
import argparse
import http.client
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import host_context, percentile  # noqa: E402
from tests.support import dockerlab  # noqa: E402

SECTION = "## Deploy swap: published port (stop-first) vs the proxy (start-first)"
DOMAIN = "bench.tinyforge.test"
DOMAIN_STACK = "stack.bench.tinyforge.test"
VERSION = re.compile(r"version (\w+)")
HEALTHCHECK = {"http": {"path": "/index.html", "port": 8080}, "interval": 0.3, "timeout": 1,
               "retries": 5}
FAILURE_BACKOFF_S = 0.01  # a refused connection fails at once: do not spin on it


class Load:
    """``clients`` threads, each one kept-alive connection to ``port`` (127.0.0.1 or
    ``address``), GET / with ``host``; every request becomes (start, latency, ok, version)."""

    def __init__(self, port, host, clients, address="127.0.0.1"):
        self.port, self.host, self.address = port, host, address
        self.samples = [[] for _ in range(clients)]
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(mine,), daemon=True)
                        for mine in self.samples]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def _client(self, into):
        # Like browsers, Go's net/http and urllib3, a GET sent on a *reused* keep-alive
        # connection that the server closed without a single response byte is sent once more
        # on a fresh connection (RFC 9112 section 9.3.1): Caddy closes idle connections when
        # its config changes. Such resends are counted (``resent``); a failure on a fresh
        # connection, a reset mid-response or any non-200 answer is a failed request.
        conn, reused = None, False
        while not self.stopping.is_set():
            started = time.monotonic()
            ok, body, resent = False, "", False
            for attempt in (1, 2):
                if conn is None:
                    conn = http.client.HTTPConnection(self.address, self.port, timeout=5)
                    reused = False
                try:
                    conn.request("GET", "/", headers={"Host": self.host})
                    response = conn.getresponse()
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError) as exc:
                    conn.close()
                    conn = None
                    if attempt == 1 and reused:
                        resent = True
                        continue
                    ok, body = False, repr(exc)
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = None
                    break
                try:
                    body = response.read().decode(errors="replace")
                    ok = response.status == 200
                    reused = True
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException):
                    ok, body = False, ""
                    conn.close()
                    conn = None
                break
            found = VERSION.search(body) if ok else None
            into.append((started, time.monotonic() - started, ok, found.group(1) if found else "",
                         resent))
            if not ok:
                time.sleep(FAILURE_BACKOFF_S)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        return sorted(s for mine in self.samples for s in mine)


def window_stats(samples, t0, t1, new_version=None):
    inside = [s for s in samples if t0 <= s[0] < t1]
    good = [s for s in inside if s[2]]
    latencies = [s[1] for s in good]
    # The longest stretch in which no request that started then was answered well.
    gap, last = 0.0, t0
    for started, latency, ok, _version, _resent in inside:
        if ok:
            gap = max(gap, started - last)
            last = started + latency
    gap = max(gap, (t1 - last) if not good else 0.0)
    first_new = None
    if new_version:
        answered = [s[0] + s[1] for s in inside if s[2] and s[3] == new_version]
        first_new = (min(answered) - t0) if answered else None
    return {
        "requests": len(inside),
        "failed": len(inside) - len(good),
        "resent": sum(1 for s in inside if s[4]),
        "rps": len(inside) / max(t1 - t0, 1e-9),
        "p50": percentile(latencies, 50) if latencies else None,
        "p99": percentile(latencies, 99) if latencies else None,
        "gap": gap,
        "first_new": first_new,
        "seconds": t1 - t0,
    }


def wait_for_version(port, host, version, deadline_s=60, address="127.0.0.1"):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(address, port, timeout=2)
        try:
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            if response.status == 200 and f"version {version}" in response.read().decode():
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise SystemExit(f"version {version} never answered at {address}:{port} (Host {host})")


class Images:
    """The bench's images, built once; ``publish(name, repo)`` pushes one as ``repo:live``."""

    def __init__(self, registry, tmpdir, label):
        self.registry = registry
        labels = {"tinyforge.bench": label}
        prefix = f"tinyforge-bench-{label}"
        self.local = {
            "v1": (f"{prefix}:v1", dockerlab.build_web_image(f"{prefix}:v1", 1, tmpdir, labels)),
            "v2": (f"{prefix}:v2", dockerlab.build_web_image(f"{prefix}:v2", 2, tmpdir, labels)),
            # A broken release: the container exits at once.
            "exits": (f"{prefix}:exits", dockerlab.build_busybox_image(
                f"{prefix}:exits", tmpdir, ['CMD ["sh", "-c", "exit 3"]'], labels=labels)),
            # Runs and serves, but not on the port the health check (and the proxy) ask.
            "unhealthy": (f"{prefix}:unhealthy", dockerlab.build_busybox_image(
                f"{prefix}:unhealthy", tmpdir,
                ["COPY index.html /www/index.html",
                 'CMD ["httpd", "-f", "-p", "8081", "-h", "/www"]'],
                {"index.html": "tinyforge test version 3\n"}, labels)),
        }

    def publish(self, name, repo):
        tag = f"{self.registry.host}/{repo}:live"
        subprocess.run(["docker", "tag", self.local[name][0], tag], check=True)
        dockerlab.push(tag)
        return tag

    def remove(self, repos):
        for tag, _image_id in self.local.values():
            dockerlab.remove_image(tag)
        for repo in repos:
            dockerlab.remove_image(f"{self.registry.host}/{repo}:live")


def image_spec(extra):
    return lambda image: ("image", {"image": image, "healthcheck": dict(HEALTHCHECK), **extra})


def stack_spec(image):
    """A two-service stack whose web service is routed (blue/green); the worker is not."""
    compose = (f"services:\n  web:\n    image: {image}\n  worker:\n    image: {image}\n"
               "    command: ['sh', '-c', 'sleep 3600']\n")
    return "compose", {"compose": compose, "routes": [
        {"service": "web", "domains": [DOMAIN_STACK], "http_port": 8080}]}


def run_sequence(name, images, repo, spec_for, target, clients, steady, settle):
    """Create the workload, deploy v1, then the four steps under load; returns the figures."""
    from apps.deploys.dispatch import dispatch
    from apps.deploys.replays import rollback
    from apps.workloads.actions import create_workload

    image = images.publish("v1", repo)
    kind, spec = spec_for(image)
    workload = create_workload(
        name=f"bench-{re.sub(r'[^a-z0-9]+', '-', name)}-{uuid.uuid4().hex[:4]}",
        kind=kind, spec=spec)
    first = dispatch(workload, "api")
    if first.status != "succeeded":
        raise SystemExit(f"{name}: the v1 deploy failed: {first.error}\n{first.log}")
    port, host, address = target(workload)
    wait_for_version(port, host, "1", address=address)
    load = Load(port, host, clients, address=address).start()
    time.sleep(steady)
    steady_window = (time.monotonic() - steady, time.monotonic())
    steps = []

    def step(title, run, expect_status, new_version):
        t0 = time.monotonic()
        deploy = run()
        ended = time.monotonic()
        time.sleep(settle)
        steps.append({"step": title, "t0": t0, "t1": ended + settle, "new": new_version,
                      "status": deploy.status, "expected": expect_status,
                      "dispatch_s": ended - t0})

    for title, image_name, expect, new in (("deploy v2", "v2", "succeeded", "2"),
                                           ("failed deploy (exits)", "exits", "failed", None),
                                           ("health check fails", "unhealthy", "failed", None)):
        images.publish(image_name, repo)
        step(title, lambda: dispatch(workload, "api"), expect, new)
    step("rollback to v1", lambda: rollback(workload, target=first, enqueue=False),
         "succeeded", "1")
    samples = load.stop()
    result = {"path": name, "steady": window_stats(samples, *steady_window), "steps": []}
    for item in steps:
        figures = window_stats(samples, item["t0"], item["t1"], item["new"])
        figures.update({k: item[k] for k in ("step", "status", "expected", "dispatch_s")})
        # Which version answered last: a failed deploy must leave the previous one serving.
        after = [s[3] for s in samples if s[2] and s[0] < item["t1"]]
        figures["serving_after"] = after[-1] if after else ""
        result["steps"].append(figures)
    result["workload"] = workload
    return result


def published_target(port):
    return lambda workload: (port, f"127.0.0.1:{port}", "127.0.0.1")


def proxy_target(workload, domain=DOMAIN):
    from django.conf import settings

    listen = settings.TINYFORGE_PROXY_HTTP
    return int(listen.rsplit(":", 1)[1]), domain, listen.rsplit(":", 1)[0] or "127.0.0.1"


def stack_target(workload):
    return proxy_target(workload, DOMAIN_STACK)


def container_ip(workload):
    from django.conf import settings

    [cid] = dockerlab.container_ids(f"tinyforge.instance={settings.TINYFORGE_INSTANCE}",
                                    f"tinyforge.workload={workload.pk}", all_states=False)
    out = subprocess.run(["docker", "inspect", "-f",
                          "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0]


def one_client_p50(port, host, address, count):
    """p50 of ``count`` sequential GETs on one kept-alive connection."""
    conn = http.client.HTTPConnection(address, port, timeout=5)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
    return percentile(latencies, 50)


def start_caddy(data_dir):
    """Caddy the way `manage.py serve` starts it (free ports, storage under the data dir)."""
    from django.conf import settings

    from apps.workloads import embedded_proxy, supervisor

    settings.TINYFORGE_PROXY_ADMIN = f"http://127.0.0.1:{dockerlab.free_port()}"
    settings.TINYFORGE_PROXY_HTTP = f"127.0.0.1:{dockerlab.free_port()}"
    children = supervisor.Supervisor()

    class Out:
        def write(self, text):
            print(text)

    if not embedded_proxy.ensure_caddy(children, Out()):
        raise SystemExit("Caddy did not start")
    return children


def _ms(seconds):
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def report(results, clients, steady, proxy_note, latency):
    rows = [f"{clients} keep-alive clients polling `/` for the whole sequence; steady state "
            f"{steady:.0f} s before the first dispatch; each step's window runs from its "
            f"dispatch until it returned + the settle time; {host_context()}.", ""]
    rows[0] += (f" Failed: answered with no 200 or not at all (a client retries "
                f"{FAILURE_BACKOFF_S * 1000:.0f} ms after a failure, so during an outage the "
                "count grows with its length; the longest gap is the outage itself). Dispatch: "
                "seconds until the inline dispatch returned.")
    rows += ["Resent: GETs sent a second time because a reused keep-alive connection was closed "
             "without a response byte (what browsers, Go and urllib3 do; Caddy closes idle "
             "connections when its config changes); they are not failures, and are listed so "
             "nothing is hidden. Failed: anything else that did not answer 200.", ""]
    rows += ["| path | step | outcome | requests | failed | resent | req/s | p50 | p99 "
             "| longest gap | dispatch | dispatch → new version |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in results:
        s = result["steady"]
        rows.append(f"| {result['path']} | steady state | — | {s['requests']} | {s['failed']} "
                    f"| {s['resent']} | {s['rps']:.0f} | {_ms(s['p50'])} | {_ms(s['p99'])} "
                    f"| {_ms(s['gap'])} "
                    f"| — | — |")
        for f in result["steps"]:
            outcome = f["status"] + ("" if f["status"] == f["expected"] else " (unexpected)")
            outcome += f", then v{f['serving_after']} serves"
            rows.append(
                f"| {result['path']} | {f['step']} | {outcome} | {f['requests']} "
                f"| **{f['failed']}** | {f['resent']} | {f['rps']:.0f} | {_ms(f['p50'])} "
                f"| {_ms(f['p99'])} "
                f"| {_ms(f['gap'])} | {_ms(f['dispatch_s'])} "
                f"| {_ms(f['first_new']) if f['first_new'] is not None else '—'}"
                f" |")
    rows += ["", "On the published-port path the old container is stopped before the new one "
                 "starts (its port must be free), and busybox httpd, PID 1, ignores SIGTERM: "
                 "each stop waits the engine's 10 s grace, which is most of the time to the new "
                 "version (the old one serves on meanwhile); a failed deploy starts the old "
                 "container again once the new one has failed."]
    if proxy_note:
        rows += ["", proxy_note]
    if latency:
        rows += ["", f"Added latency of the proxy (one client, {latency['count']} sequential "
                     f"requests each): p50 through Caddy {_ms(latency['caddy'])} vs the "
                     f"container's IP directly {_ms(latency['direct'])}: "
                     f"**+{(latency['caddy'] - latency['direct']) * 1000:.2f} ms**."]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of steady load")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds each step's window runs on after its dispatch returned")
    parser.add_argument("--latency-requests", type=int, default=1000)
    parser.add_argument("--skip-proxy", action="store_true")
    parser.add_argument("--skip-stack", action="store_true",
                        help="leave out the compose (blue/green) path")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures to FILE")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if args.clients < 4:
        parser.error("--clients: at least 4")

    data_dir = Path(tempfile.mkdtemp(prefix="tf-bench-swap-"))
    os.environ["TINYFORGE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("TINYFORGE_SECRET_KEY", uuid.uuid4().hex * 2)
    # A stack's "health check fails" step waits for this readiness deadline (no health check
    # of its own); 10 s keeps the run short and is stated in the results.
    os.environ.setdefault("TINYFORGE_PROXY_READY_TIMEOUT", "10")
    from bench.common import remove_db, setup_django

    db_path = setup_django(data_dir)
    from django.conf import settings

    label = uuid.uuid4().hex[:8]
    registry = dockerlab.Registry().start(data_dir)
    images = caddy = None
    repos = [f"bench/{label}-published", f"bench/{label}-proxy", f"bench/{label}-stack"]
    results, latency = [], None
    have_proxy = importlib.util.find_spec("apps.workloads.proxy") is not None
    proxy_note = ""
    if args.skip_proxy or not have_proxy:
        proxy_note = ("Proxy path not measured in this run: " + (
            "--skip-proxy." if args.skip_proxy else
            "`apps.workloads.proxy` is not in this tree (it runs after the proxy work is "
            "merged)."))
        print(proxy_note)
    try:
        images = Images(registry, data_dir, label)
        port = dockerlab.free_port()
        results.append(run_sequence(
            "published port", images, repos[0],
            image_spec({"ports": [f"127.0.0.1:{port}:8080"]}),
            published_target(port), args.clients, args.steady, args.settle))
        if not proxy_note:
            caddy = start_caddy(data_dir)
            result = run_sequence(
                "proxy", images, repos[1], image_spec({"domains": [DOMAIN], "http_port": 8080}),
                proxy_target, args.clients, args.steady, args.settle)
            results.append(result)
            if not args.skip_stack:
                results.append(run_sequence(
                    "proxy, compose blue/green", images, repos[2], stack_spec, stack_target,
                    args.clients, args.steady, args.settle))
            proxy_port, _host, proxy_address = proxy_target(result["workload"])
            ip = container_ip(result["workload"])
            direct = one_client_p50(8080, ip, ip, args.latency_requests)
            through = one_client_p50(proxy_port, DOMAIN, proxy_address, args.latency_requests)
            latency = {"count": args.latency_requests, "direct": direct, "caddy": through}
    finally:
        if caddy is not None:
            caddy.stop(5)
        instance = f"tinyforge.instance={settings.TINYFORGE_INSTANCE}"
        dockerlab.remove_containers(instance)
        networks = subprocess.run(["docker", "network", "ls", "-q", "--filter",
                                   f"label={instance}"], capture_output=True, text=True).stdout
        if networks.split():
            subprocess.run(["docker", "network", "rm", *networks.split()], capture_output=True)
        if images is not None:
            images.remove(repos)
        registry.stop()
        remove_db(db_path)

    for result in results:
        result.pop("workload", None)
    text = report(results, args.clients, args.steady, proxy_note, latency)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "latency": latency}))
    if args.write:
        extra = re.sub(r"\s*--json(=|\s+)\S+", "",
                       " ".join(a for a in sys.argv[1:] if a != "--write"))
        write_results(text, f".venv/bin/python bench/run_swap.py {extra}".strip())


if __name__ == "__main__":
    main()
