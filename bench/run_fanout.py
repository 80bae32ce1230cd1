"""Fan-out over two hosts: one trigger bound to 20 workloads, half on the local engine and half
on a second engine reached over TCP with TLS; the time from firing it until all 20 deploys
have finished (each serving the new version), with the task cluster at 2 and at 4 workers.

    .venv/bin/python bench/run_fanout.py --workloads 20 --workers 2 4 --far-limits 0 1  # root

Runs ``manage.py serve`` as ``make run`` does (bench/run_capacity.py's private install) and a
second ``dockerd`` (tests/support/second_engine.py). The trigger is fired with ``fire_trigger``,
which is what a webhook delivery runs once it is accepted. Deploys take a worker of the task
cluster (``TINYFORGE_WORKERS``), whichever host they go to; a host's ``max_deploys`` (0: none)
caps how many run there at once (``--far-limits`` sets it on the second host), and the peak
seen per host is reported from the ledger's start and finish times.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_capacity import Install, wait_until  # noqa: E402
from tests.support import dockerlab  # noqa: E402
from tests.support.second_engine import SecondEngine  # noqa: E402


def peak_overlap(intervals):
    """The most intervals (start, end) open at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def fan_out(install, lab, image, count, far_limit=0):
    tag = uuid.uuid4().hex[:6]
    pems = Path(install.data) / "pems"
    pems.mkdir(exist_ok=True)
    for name in ("tls_ca", "tls_cert", "tls_key"):
        (pems / name).write_text(getattr(lab, name))
    code = "\n".join([
        "from pathlib import Path",
        "from apps.workloads import hosts",
        "from apps.workloads.actions import create_workload",
        "from apps.deploys.models import Trigger",
        "from apps.deploys.dispatch import fire_trigger",
        "from apps.workloads.models import Host",
        f"pems = Path({str(pems)!r})",
        f"far = Host.objects.filter(name='far').first() or hosts.create_host({{'name': 'far', "
        f"'engine_url': {lab.tcp_url!r}, **{{n: (pems / n).read_text() for n in "
        "('tls_ca', 'tls_cert', 'tls_key')}})",
        f"Host.objects.filter(pk=far.pk).update(max_deploys={far_limit})",
        "local = hosts.local_host()",
        f"trigger = Trigger.objects.create(name='fan-{tag}', kind='manual')",
        f"made = [create_workload(name=f'fan{{i}}-{tag}', kind='image', "
        f"spec={{'image': {image!r}}}, host=far if i % 2 else local) for i in range({count})]",
        "trigger.workloads.set(made)",
        "print('ids', *[d.pk for d in fire_trigger(trigger)])",
    ])
    out = install.manage("shell", "-c", code).splitlines()[-1].split()[1:]
    ids = [int(i) for i in out]
    marks = ",".join("?" * len(ids))

    def rows():
        found = install.query("SELECT status, created_at, started_at, finished_at, host_id "
                              f"FROM deploys_deploy WHERE id IN ({marks})", *ids)
        return found if len(found) == len(ids) and all(row[3] for row in found) else None

    done = wait_until(rows, 900, "every deploy of the fan-out to finish")
    created = min(datetime.fromisoformat(row[1]) for row in done)
    finished = [datetime.fromisoformat(row[3]) for row in done]
    per_host, spans = {}, {}
    for row in done:
        start, end = datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3])
        per_host.setdefault(row[4], []).append((end - start).total_seconds())
        spans.setdefault(row[4], []).append((start, end))
    hosts_in_order = sorted(per_host)  # the local host was created first
    return {
        "statuses": sorted({row[0] for row in done}),
        "all_done_s": (max(finished) - created).total_seconds(),
        "each_s_by_host": {h: round(statistics.median(per_host[h]), 2) for h in hosts_in_order},
        "peak_by_host": {h: peak_overlap(spans[h]) for h in hosts_in_order},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--far-limits", type=int, nargs="+", default=[0],
                        help="max_deploys of the second host, one run each (0: no limit)")
    parser.add_argument("--grace", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tf-fanout-"))
    registry = dockerlab.Registry().start(work)
    lab = SecondEngine()
    image = f"{registry.host}/fanbench/web-{uuid.uuid4().hex[:6]}:live"
    results = {}
    try:
        lab.start_engine()
        dockerlab.build_web_image(image, "fan", work)
        dockerlab.push(image)
        for workers in args.workers:
            for far_limit in args.far_limits:
                install = Install(ROOT, args.grace)
                install.env["TINYFORGE_WORKERS"] = str(workers)
                try:
                    install.start()
                    results[workers, far_limit] = fan_out(install, lab, image, args.workloads,
                                                          far_limit)
                finally:
                    ids = lab.container_ids(
                        f"tinyforge.instance={install.env['TINYFORGE_INSTANCE']}")
                    if ids:
                        lab.docker("rm", "-f", *ids, check=False)
                    install.stop()
                print(f"workers {workers}, second host's limit {far_limit}: "
                      f"{results[workers, far_limit]}", flush=True)
    finally:
        lab.close()
        registry.stop()
        dockerlab.remove_image(image)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.workloads} workloads (half on each host), start grace {args.grace} s")
    print("| task workers | second host's max_deploys | all serving after | median deploy, "
          "local / second host | most at once, local / second host | statuses |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for (workers, far_limit), r in results.items():
        by_host = " / ".join(f"{v:.1f} s" for v in r["each_s_by_host"].values())
        peaks = " / ".join(str(v) for v in r["peak_by_host"].values())
        print(f"| {workers} | {far_limit or 'none'} | {r['all_done_s']:.1f} s | {by_host} | "
              f"{peaks} | {', '.join(r['statuses'])} |")


if __name__ == "__main__":
    main()
