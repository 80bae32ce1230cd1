"""`manage.py serve` and the proxy: it starts a real Caddy when nothing answers at
TINYFORGE_PROXY_ADMIN and stops it with the rest; it starts none when one answers; and behind
an https public URL, gunicorn believes X-Forwarded-Proto from the proxy's address only."""
import http.client
import signal

import pytest

from tests.support import caddyproc, processes
from tests.support.served import STOP_BOUND_S, Served, make_install


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    return make_install(tmp_path_factory.mktemp("serve-proxy-data"))


@pytest.fixture
def served_list():
    started = []
    yield started
    for served in started:
        served.cleanup()


def serve(served_list, install, tmp_path, **env):
    served = Served(install, tmp_path, **env)
    served_list.append(served)
    return served


def test_serve_starts_caddy_when_nothing_answers_and_stops_it_with_the_rest(
    served_list, install, tmp_path
):
    admin = install["env"]["TINYFORGE_PROXY_ADMIN"]
    assert not caddyproc.answers(admin), "the port was meant to be free"
    caddy_log = install["data"] / "caddy" / "caddy.log"
    shutdowns_before = (caddy_log.read_text().count('"msg":"shutdown complete","signal":"SIGTERM"')
                        if caddy_log.exists() else 0)
    served = serve(served_list, install, tmp_path)
    served.wait_until_up()
    assert processes.wait_until(lambda: caddyproc.answers(admin), 20), served.text()
    caddy_pid = served.child("caddy.json")
    assert caddy_pid in caddyproc.caddy_pids(), served.text()
    config = caddyproc.admin_config(admin)
    assert config["admin"]["listen"] == admin.removeprefix("http://")
    assert config["storage"]["root"] == str(install["data"] / "caddy")
    assert "Caddy started" in served.text()

    elapsed = served.stop_and_time(signal.SIGTERM)
    print(f"serve stopped {elapsed:.2f} s after SIGTERM with its Caddy running")
    assert elapsed <= STOP_BOUND_S
    assert served.proc.returncode == 0
    assert caddy_pid not in processes.live()
    assert not caddyproc.answers(admin)
    # Caddy ended by itself on SIGTERM (its grace is shorter than serve's), not by SIGKILL.
    log = (install["data"] / "caddy" / "caddy.log").read_text()
    assert log.count('"msg":"shutdown complete","signal":"SIGTERM"') == shutdowns_before + 1


def test_serve_starts_no_caddy_when_one_already_answers_and_leaves_it_running(
    served_list, install, tmp_path
):
    operators = caddyproc.OwnCaddy(tmp_path / "operator-caddy")
    try:
        served = serve(served_list, install, tmp_path, TINYFORGE_PROXY_ADMIN=operators.admin)
        served.wait_until_up()
        assert "already answers at " + operators.admin in served.text()
        # (Other Caddy processes may come and go on a shared machine: look at serve's own.)
        assert not caddyproc.caddy_pids() & processes.family(served.proc.pid)
        elapsed = served.stop_and_time(signal.SIGTERM)
        assert elapsed <= STOP_BOUND_S
        assert operators.process.poll() is None, "serve stopped a Caddy it did not start"
        assert caddyproc.answers(operators.admin)
    finally:
        operators.stop()


def test_serve_without_caddy_on_the_path_says_so_and_serves_anyway(
    served_list, install, tmp_path
):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    served = serve(served_list, install, tmp_path, PATH=str(empty_path))
    served.wait_until_up()
    assert "Caddy is not installed" in served.text()
    assert served.child("caddy.json") is None
    assert served.stop_and_time(signal.SIGTERM) <= STOP_BOUND_S
    assert served.proc.returncode == 0


def get_login(port, source="127.0.0.1", forwarded_proto=None):
    """(status, Location) of GET /admin/login/ sent from ``source`` (any 127/8 address)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=(source, 0))
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    try:
        conn.request("GET", "/admin/login/", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    except OSError:
        return None, ""
    finally:
        conn.close()


def test_behind_an_https_public_url_forwarded_proto_counts_only_from_the_trusted_proxy(
    served_list, install, tmp_path
):
    served = serve(served_list, install, tmp_path,
                   TINYFORGE_PUBLIC_URL="https://tinyforge.example.test",
                   TINYFORGE_PROXY_HTTPS="127.0.0.1:1", TINYFORGE_TRUSTED_PROXIES="127.0.0.1")
    # The proxy's address, saying the client came over https: served as it is.
    assert processes.wait_until(
        lambda: get_login(served.port, forwarded_proto="https")[0] == 200, 30), served.text()
    # The same address without the header: plain http, redirected to https.
    status, location = get_login(served.port)
    assert status == 301 and location.startswith("https://")
    # Another peer claiming https is not believed (Django does not read the header itself).
    status, location = get_login(served.port, source="127.0.0.2", forwarded_proto="https")
    assert status == 301 and location.startswith("https://"), (status, location)
    assert served.stop_and_time(signal.SIGTERM) <= STOP_BOUND_S
