"""A hook URL's path is its credential: no log line, the server's access log included, shows it."""
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.deploys.hook_redaction import redact_hook_tokens
from apps.deploys.models import Trigger
from tests.support import dockerlab

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("line, expected", [
    ("POST /api/hooks/AbC-_9 HTTP/1.1", "POST /api/hooks/[redacted] HTTP/1.1"),
    ("Unauthorized: /api/hooks/tok", "Unauthorized: /api/hooks/[redacted]"),
    ('"/api/hooks/tok?x=1"', '"/api/hooks/[redacted]?x=1"'),
    ("GET /api/triggers HTTP/1.1", "GET /api/triggers HTTP/1.1"),
])
def test_hook_tokens_are_redacted_from_log_text(line, expected):
    assert redact_hook_tokens(line) == expected


def test_a_refused_hook_call_logs_its_path_without_the_token(caplog, client, db):
    # Installs log django.request from ERROR up and do not propagate it; an install that
    # lowers the level must still never see a token, so listen on that logger at INFO.
    caplog.set_level(logging.INFO, logger="django.request")
    request_log = logging.getLogger("django.request")
    request_log.addHandler(caplog.handler)
    try:
        _refused_call_is_logged_redacted(caplog, client)
    finally:
        request_log.removeHandler(caplog.handler)


def _refused_call_is_logged_redacted(caplog, client):
    hook = Trigger.objects.create(name="push", kind="webhook", secret="s")
    response = client.post(f"/api/hooks/{hook.raw_token}", b"{}",
                           content_type="application/json")
    assert response.status_code == 401
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/hooks/[redacted]" in logged  # Django's request log did write the path
    assert hook.raw_token not in logged


def run(args, env, timeout=120):
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def post(url, data=b"{}"):
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_gunicorn_as_serve_runs_it_logs_hook_calls_with_the_token_redacted(tmp_path):
    env = {**os.environ, "TINYFORGE_DATA_DIR": str(tmp_path), "TINYFORGE_DEBUG": "1",
           "DJANGO_SETTINGS_MODULE": "tinyforge.settings"}
    env.pop("DATABASE_URL", None)
    run(["manage.py", "migrate", "--noinput", "-v", "0"], env)
    token = run(["manage.py", "shell", "-c",
                 "from apps.deploys.models import Trigger; "
                 "print(Trigger.objects.create(name='push', kind='webhook').raw_token)"],
                env).strip().splitlines()[-1]
    port = dockerlab.free_port()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    # The gunicorn options of apps/workloads/management/commands/serve.py
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "tinyforge.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-",
             "--logger-class", "tinyforge.gunicorn_logging.HookRedactingLogger"],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        try:
            deadline, status = time.monotonic() + 30, None
            while time.monotonic() < deadline:
                try:
                    status = post(f"http://127.0.0.1:{port}/api/hooks/{token}")
                    break
                except OSError:
                    time.sleep(0.2)  # not listening yet; polled against the deadline
            assert status == 401
            assert post(f"http://127.0.0.1:{port}/api/hooks/no-such-{token}") == 404
            deadline = time.monotonic() + 10
            while "/api/hooks/[redacted]" not in out.read_text() + err.read_text():
                assert time.monotonic() < deadline, "no access log line was written"
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    logs = out.read_text() + err.read_text()
    assert "POST /api/hooks/[redacted] HTTP/1.1\" 401" in logs
    assert token not in logs
