"""Moving an install from SQLite to PostgreSQL with `manage.py copy_database` keeps everything:
workloads, the deploy ledger, encrypted secrets (still encrypted, still readable), tokens, users
and metrics, and the target keeps working (new rows get fresh ids)."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SEED = """
import json, time
from django.contrib.auth.models import User
from apps.metrics.models import HostSample, Sample
from apps.metrics.rollups import roll_up
from apps.metrics.sampler import store
from apps.workloads.models import ApiToken, Container, RegistryCredential
from tests.support.fleet import seed_fleet

admin = User.objects.create_superuser("root", "", "root-password-1")
workloads = seed_fleet(4, deploys_each=12, user=admin)
RegistryCredential.objects.create(host="127.0.0.1:5999", username="deployer",
                                  password="registry-canary-pw")
_, token = ApiToken.issue(admin)
now = int(time.time()) // 3600 * 3600
ticks = range(now - 3 * 3600, now, 15)
rows = []
for container in Container.objects.all():
    for ts in ticks:
        rows.append(Sample(workload_id=container.workload_id, container_id=container.pk, ts=ts,
                           cpu_percent=(ts % 97) / 3, memory_usage=ts % 1000 * 2**20,
                           memory_limit=2**30))
store(rows)
HostSample.objects.bulk_create([HostSample(ts=ts, cpu_percent=12.5, memory_usage=2**31,
                                           memory_limit=2**33) for ts in ticks])
roll_up(now=now + 60)
print(json.dumps({"token": token, "now": now}))
"""

# The same facts read from either database, secrets decrypted by the application.
FINGERPRINT = """
import json
from django.contrib.auth.models import User
from django.db import connection
from apps.core.crypto import hash_token
from apps.deploys.models import Deploy, Trigger
from apps.metrics import queries
from apps.metrics.models import HostRollup, HostSample, Rollup, Sample, Watermark
from apps.workloads.models import ApiToken, EnvVar, RegistryCredential, Workload

iso = lambda d: d.isoformat() if d else None
with connection.cursor() as cursor:
    cursor.execute("SELECT value FROM workloads_envvar WHERE secret ORDER BY id")
    stored_secrets = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT password FROM workloads_registrycredential")
    stored_passwords = [row[0] for row in cursor.fetchall()]
print(json.dumps({
    "vendor": connection.vendor,
    "workloads": [[w.pk, w.name, w.engine_key, w.spec, iso(w.created_at),
                   sorted(w.chain.values_list("pk", flat=True))]
                  for w in Workload.objects.order_by("pk")],
    "env": [[e.workload_id, e.key, e.value, e.secret] for e in EnvVar.objects.order_by("pk")],
    "stored_secrets_encrypted": all(v.startswith("enc:") for v in stored_secrets + stored_passwords)
                                and len(stored_secrets) > 0,
    "registry": [[c.host, c.username, c.password] for c in RegistryCredential.objects.all()],
    "ledger": [[d.pk, d.workload_id, d.status, d.reason, d.pinned_ref, d.pinned, d.error_code,
                d.error_detail, d.log, iso(d.created_at), iso(d.started_at),
                iso(d.finished_at), d.requested_by_id]
               for d in Deploy.objects.order_by("pk")],
    "triggers": [[t.name, t.kind, t.config, sorted(t.workloads.values_list("pk", flat=True))]
                 for t in Trigger.objects.order_by("pk")],
    "token_works": ApiToken.objects.filter(token_hash=hash_token(ARGS["token"])).exists(),
    "password_works": User.objects.get(username="root").check_password("root-password-1"),
    "samples": [Sample.objects.count(), HostSample.objects.count(), Rollup.objects.count(),
                HostRollup.objects.count()],
    "watermarks": dict(Watermark.objects.values_list("name", "until")),
    "series": {w: [queries.workload_series(w, "2h", now=ARGS["now"]),
                   queries.workload_series(w, "24h", now=ARGS["now"])]
               for w in Workload.objects.order_by("pk").values_list("pk", flat=True)},
    "host": queries.host_series("6h", now=ARGS["now"]),
}, sort_keys=True))
"""

NEW_ROWS = """
from apps.deploys.models import Deploy
from apps.workloads import actions
w = actions.create_workload(name="after-the-move", kind="image", spec={"image": "busybox"})
d = Deploy.objects.create(workload=w, reason="api", source_kind="image")
print(w.pk, d.pk)
"""


def postgres_url():
    for url in (os.environ.get("TINYFORGE_TEST_POSTGRES_URL", ""),
                os.environ.get("DATABASE_URL", "")):
        if url.startswith(("postgres://", "postgresql://")):
            return url
    if IN_CI:
        pytest.fail("CI needs PostgreSQL: TINYFORGE_TEST_POSTGRES_URL from scripts/postgres.sh")
    pytest.skip("no PostgreSQL (set TINYFORGE_TEST_POSTGRES_URL; see scripts/postgres.sh)")


@pytest.fixture
def empty_postgres_database():
    """A fresh database on the PostgreSQL server; dropped afterwards."""
    import psycopg

    server = postgres_url()
    name = "tfcopy_" + uuid.uuid4().hex[:10]
    parts = urlsplit(server)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path="/" + name))
    with psycopg.connect(server, autocommit=True) as admin:
        # Every process that used it has exited; a plain DROP also asks autovacuum to leave.
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def manage(env, *args):
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"manage.py {args[0]}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def shell(env, code, **args):
    return manage(env, "shell", "-v", "0", "-c", f"ARGS = {args!r}\n" + code).strip()


def test_a_seeded_sqlite_install_arrives_intact_in_postgresql(tmp_path, empty_postgres_database):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TINYFORGE_", "DATABASE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "tinyforge.settings",
        "TINYFORGE_DATA_DIR": str(tmp_path),
        "TINYFORGE_INSTANCE": "copy-" + uuid.uuid4().hex[:8],
        "TINYFORGE_SECRET_KEY": "copy-database-test-" + uuid.uuid4().hex,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'source.sqlite3'}",
    })
    target = {**env, "DATABASE_URL": empty_postgres_database}
    manage(env, "migrate", "--noinput", "-v", "0")
    seeded = json.loads(shell(env, SEED).splitlines()[-1])
    before = json.loads(shell(env, FINGERPRINT, **seeded).splitlines()[-1])

    report = manage(env, "copy_database", "--to", empty_postgres_database)

    after = json.loads(shell(target, FINGERPRINT, **seeded).splitlines()[-1])
    assert (before["vendor"], after["vendor"]) == ("sqlite", "postgresql")
    assert "metrics_sample: " in report and "deploys_deploy: " in report
    # The seed is what we think it is, so the comparison below means something.
    assert len(before["workloads"]) == 4 and len(before["ledger"]) == 48
    assert ["127.0.0.1:5999", "deployer", "registry-canary-pw"] in before["registry"]
    assert any(row[1:] == ["TOKEN", "fleet-secret-2", True] for row in before["env"])
    assert all(before["samples"]) and before["watermarks"]
    assert all(points for pair in before["series"].values() for points in pair)
    assert before["token_works"] and before["password_works"]
    assert before["stored_secrets_encrypted"]
    for key in before:
        if key != "vendor":
            assert after[key] == before[key], key
    # The copy stays consistent on its own: new rows get ids past the copied ones.
    workload_id, deploy_id = map(int, shell(target, NEW_ROWS).split()[-2:])
    assert workload_id > max(row[0] for row in before["workloads"])
    assert deploy_id > max(row[0] for row in before["ledger"])


def test_copying_refuses_a_target_that_already_holds_an_install(tmp_path,
                                                                 empty_postgres_database):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TINYFORGE_", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "tinyforge.settings",
                "TINYFORGE_DATA_DIR": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'source.sqlite3'}"})
    target = {**env, "DATABASE_URL": empty_postgres_database}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(target, "migrate", "--noinput", "-v", "0")
    shell(target, NEW_ROWS)
    done = subprocess.run([sys.executable, "manage.py", "copy_database", "--to",
                           empty_postgres_database], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode != 0
    assert "not empty" in done.stderr
    assert shell(target, "from apps.workloads.models import Workload\n"
                         "print(list(Workload.objects.values_list('name', flat=True)))"
                 ) == "['after-the-move']"
