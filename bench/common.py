"""Shared setup for the benchmarks: a throwaway database, Django, timing helpers.

Benchmarks never touch the install's own database (var/): each run migrates a fresh SQLite file
under /tmp (same WAL settings as production) or, with ``--database-url postgres://...`` (or
``TINYFORGE_BENCH_DATABASE_URL``), a fresh database created on that PostgreSQL server, and
removes it at the end unless ``--keep-db``.
"""
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def add_database_option(parser):
    parser.add_argument(
        "--database-url", default=os.environ.get("TINYFORGE_BENCH_DATABASE_URL", ""),
        help="a PostgreSQL server (postgres://user:pw@host:port/db): the bench creates and "
             "drops a database of its own there; default: a fresh SQLite file",
    )


class BenchDatabase:
    """The throwaway database of one run: a SQLite file, or a database on a PostgreSQL server."""

    def __init__(self, server_url=""):
        self.server_url = server_url
        if server_url:
            self.name = "tf_bench_" + uuid.uuid4().hex[:10]
            import psycopg

            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
            self.url = urlunsplit(urlsplit(server_url)._replace(path="/" + self.name))
            self.path = None
        else:
            self.path = Path(tempfile.mkdtemp(prefix="tf-bench-")) / "bench.sqlite3"
            self.url = f"sqlite:///{self.path}"

    @property
    def vendor(self):
        return "postgresql" if self.server_url else "sqlite"

    def __str__(self):
        if self.path:
            return f"{self.path} (SQLite)"
        return f"{self.name} on {urlsplit(self.server_url).hostname}:" \
               f"{urlsplit(self.server_url).port} (PostgreSQL)"

    def size(self):
        """Bytes on disk (SQLite: the file and its WAL; PostgreSQL: the whole database)."""
        if self.path:
            return sum(Path(str(self.path) + s).stat().st_size for s in ("", "-wal")
                       if Path(str(self.path) + s).exists())
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]

    def remove(self):
        if self.path:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            return
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as admin:
            # Not WITH (FORCE): that may not end an autovacuum worker (a superuser's process);
            # a plain DROP asks autovacuum to leave, and this run holds no connection anymore.
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


def setup_django(db_path=None, instance=None, database_url=""):
    """Point Django at a fresh database, set it up and migrate; returns the BenchDatabase."""
    sys.path.insert(0, str(ROOT))
    database = BenchDatabase(database_url)
    if db_path and not database_url:
        database.path = Path(db_path) / "bench.sqlite3"
        database.url = f"sqlite:///{database.path}"
    os.environ["DATABASE_URL"] = database.url
    os.environ["TINYFORGE_INSTANCE"] = instance or "bench-" + uuid.uuid4().hex[:8]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tinyforge.settings")
    os.environ.setdefault("TINYFORGE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return database


def remove_db(database):
    database.remove()


def bulk_insert(table, columns, rows):
    """Insert many rows in one transaction, the fastest plain way each database offers
    (SQLite: executemany on the raw connection; PostgreSQL: COPY)."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.copy(
                f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    raw.execute("BEGIN")
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                    rows)
    raw.execute("COMMIT")


def analyze():
    """PostgreSQL: what autovacuum would do soon after a bulk load (statistics, visibility
    map for index-only scans); nothing on SQLite."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


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
