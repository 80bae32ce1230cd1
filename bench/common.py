"""Shared setup for the benchmarks: a throwaway SQLite database, Django, timing helpers.

Benchmarks never touch the install's own database (var/): each run migrates a fresh file under
/tmp (same WAL settings as production) and deletes it at the end unless ``--keep-db``.
"""
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(db_path=None, instance=None):
    """Point Django at a fresh SQLite file, set it up and migrate; returns the file's path."""
    sys.path.insert(0, str(ROOT))
    db_path = Path(db_path or tempfile.mkdtemp(prefix="tf-bench-")) / "bench.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["TINYFORGE_INSTANCE"] = instance or "bench-" + uuid.uuid4().hex[:8]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tinyforge.settings")
    os.environ.setdefault("TINYFORGE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return db_path


def remove_db(db_path):
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)


def process_cpu():
    """CPU seconds used by this process so far (all threads)."""
    return time.process_time()


def pid_cpu(pid):
    """CPU seconds used so far by another process (user + system), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(*names):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@contextmanager
def measured(into, engine_pids=()):
    """Record wall seconds, this process's CPU seconds and the engine's CPU seconds."""
    wall, cpu = time.perf_counter(), process_cpu()
    engine = sum(pid_cpu(p) for p in engine_pids)
    children = os.times()
    yield
    after = os.times()
    into.append({
        "wall": time.perf_counter() - wall,
        "cpu": process_cpu() - cpu
        + (after.children_user - children.children_user)
        + (after.children_system - children.children_system),
        "engine_cpu": sum(pid_cpu(p) for p in engine_pids) - engine,
    })


def host_context():
    """One line saying what the machine was doing (the figures depend on it)."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"host: {os.cpu_count()} CPUs, load average {' '.join(load)}"


def percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values):
    return statistics.median(values)


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"
