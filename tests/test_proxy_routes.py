"""The proxy package against a real Caddy (tests/support/proxylab.py): what TinyForge owns in
the config, idempotent changes by @id, and nothing else touched."""
import json
import urllib.request

import pytest

from apps.workloads import proxy
from apps.workloads.proxy import ProxyError, Route, storage
from tests.support import proxylab
from tests.support.dockerlab import free_port


@pytest.fixture
def upstreams():
    made = []

    def make(text):
        server = proxylab.TextServer(text)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def foreign_server(caddy):
    """A server block somebody else configured in the same Caddy."""
    body = {"listen": [f"127.0.0.1:{free_port()}"], "routes": []}
    request = urllib.request.Request(f"{caddy.admin}/config/apps/http/servers/theirs",
                                     data=json.dumps(body).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
    return body


def test_publish_serves_the_host_through_the_proxy_and_switches_the_upstream(caddy, upstreams):
    one, two = upstreams("version one"), upstreams("version two")
    proxy.publish(Route(7, ("app.example.test",), one.dial))
    assert proxylab.wait_via(caddy, "app.example.test", "version one")
    assert proxy.current_upstream(7) == one.dial
    proxy.publish(Route(7, ("app.example.test",), two.dial))
    assert proxylab.get_via(caddy, "app.example.test")[1] == "version two"
    assert proxy.current_upstream(7) == two.dial


def test_publishing_the_same_route_twice_leaves_one_route(caddy, upstreams):
    one = upstreams("same")
    for _ in range(2):
        proxy.publish(Route(3, ("twice.example.test",), one.dial))
    routes = caddy.get_config(f"apps/http/servers/{proxy.server_name()}/routes")
    assert [r["@id"] for r in routes] == [proxy.route_id(3)]
    assert routes[0]["handle"] == [{"handler": "reverse_proxy",
                                    "upstreams": [{"dial": one.dial}]}]


def test_it_never_touches_a_server_block_it_does_not_own(caddy, upstreams):
    theirs = foreign_server(caddy)
    proxy.publish(Route(1, ("mine.example.test",), upstreams("x").dial))
    proxy.sync([])
    proxy.withdraw(1)
    assert caddy.get_config("apps/http/servers/theirs") == theirs
    servers = caddy.get_config("apps/http/servers")
    assert set(servers) == {"theirs", proxy.server_name(), proxy.server_name() + "-https"}


def test_withdraw_removes_the_route_and_its_host_stops_answering(caddy, upstreams):
    proxy.publish(Route(4, ("gone.example.test",), upstreams("here").dial))
    assert proxylab.wait_via(caddy, "gone.example.test", "here")
    assert proxy.withdraw(4) is True
    assert proxy.current_upstream(4) is None
    assert "here" not in proxylab.get_via(caddy, "gone.example.test")[1]
    assert proxy.withdraw(4) is False


def test_sync_restores_every_route_after_caddy_restarted_empty(caddy, upstreams):
    one, two = upstreams("first"), upstreams("second")
    routes = [Route(1, ("a.example.test",), one.dial), Route(2, ("b.example.test",), two.dial)]
    for route in routes:
        proxy.publish(route)
    # A crash while Caddy writes a certificate is another story (see the closing note); this
    # test is about routes coming back after a restart with an empty config.
    assert caddy.wait_for_certificates(["a.example.test", "b.example.test"])
    caddy.restart_empty()
    assert caddy.get_config("apps/http") is None
    assert proxy.sync(routes)["published"] == 4  # the HTTP and the HTTPS block
    assert proxylab.wait_via(caddy, "a.example.test", "first")
    assert proxylab.wait_via(caddy, "b.example.test", "second")
    assert proxy.sync(routes) == {"published": 0, "removed": 0}


def test_sync_removes_routes_of_workloads_it_is_not_given_but_leaves_those_in_flight(
    caddy, upstreams
):
    dial = upstreams("x").dial
    for workload_id in (1, 2, 3):
        proxy.publish(Route(workload_id, (f"h{workload_id}.example.test",), dial))
    result = proxy.sync([Route(1, ("h1.example.test",), dial)], keep={2})
    assert result["removed"] == 2  # workload 3, in both blocks
    assert set(proxy.routes_now()) == {1, 2}


def test_https_answers_with_a_certificate_from_the_internal_ca(caddy, upstreams):
    proxy.publish(Route(5, ("secure.example.test",), upstreams("over tls").dial))
    policies = caddy.get_config("apps/tls/automation/policies")
    assert policies[0]["@id"] == f"{proxy.server_name()}-tls-internal"
    assert policies[0]["subjects"] == ["secure.example.test"]
    assert policies[0]["issuers"] == [{"module": "internal"}]
    status, body, issuer = proxylab.wait_via_https(caddy, "secure.example.test")
    assert (status, body) == (200, "over tls")
    assert "Caddy Local Authority" in issuer


def test_a_tls_policy_without_hosts_is_removed_rather_than_left_matching_every_name(
    caddy, upstreams
):
    proxy.publish(Route(6, ("only.example.test",), upstreams("x").dial))
    proxy.withdraw(6)
    ids = [p.get("@id") for p in caddy.get_config("apps/tls/automation/policies") or []]
    assert not [i for i in ids if i.startswith(proxy.server_name())]


def test_the_self_route_points_the_public_url_at_tinyforge(caddy, upstreams, settings):
    me = upstreams("tinyforge itself")
    settings.TINYFORGE_PUBLIC_URL = "https://forge.example.test"
    assert proxy.publish_self(me.dial) is True
    assert proxylab.wait_via(caddy, "forge.example.test", "tinyforge itself")
    routes = caddy.get_config(f"apps/http/servers/{proxy.server_name()}/routes")
    assert [r["@id"] for r in routes] == [proxy.self_route_id()]


def test_an_unreachable_admin_endpoint_is_a_proxy_down_error(settings):
    settings.TINYFORGE_PROXY_ADMIN = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProxyError) as caught:
        proxy.publish(Route(1, ("x.example.test",), "127.0.0.1:1"))
    assert caught.value.code == "proxy_down"
    assert proxy.answers() is False


def test_local_names_use_the_internal_ca_and_public_ones_acme_when_an_email_is_set(
    caddy, upstreams, settings
):
    settings.TINYFORGE_ACME_EMAIL = "ops@example.com"
    dial = upstreams("x").dial
    proxy.publish(Route(8, ("app.example.test",), dial))
    proxy.publish(Route(9, ("shop.example.com",), dial))
    policies = {p["@id"]: p for p in caddy.get_config("apps/tls/automation/policies")}
    prefix = proxy.server_name()
    assert policies[f"{prefix}-tls-internal"]["subjects"] == ["app.example.test"]
    assert policies[f"{prefix}-tls-acme"]["subjects"] == ["shop.example.com"]
    assert policies[f"{prefix}-tls-acme"]["issuers"] == [
        {"module": "acme", "email": "ops@example.com"}]
    assert settings.TINYFORGE_INSTANCE in prefix


def test_pushing_what_caddy_already_has_writes_nothing(caddy, upstreams, settings):
    settings.TINYFORGE_PUBLIC_URL = "https://forge.example.test"
    dial = upstreams("x").dial
    routes = [proxy.Route(1, ("same.example.test",), dial)]
    proxy.sync(routes)
    before = caddy.log_text().count("autosaved config")
    proxy.sync(routes)
    proxy.publish(routes[0])
    proxy.publish_self()
    assert caddy.log_text().count("autosaved config") == before


def cut_off_certificate(caddy, host):
    """Kill Caddy once ``host``'s certificate is stored, and leave its metadata cut off as a
    kill in the middle of that write does (the timing of a real mid-write kill cannot be
    hit on purpose; the file it leaves can)."""
    assert caddy.wait_for_certificates([host])
    caddy.kill()
    [meta] = caddy.storage.glob(f"certificates/*/{host}/{host}.json")
    meta.write_text(meta.read_text()[:20])
    caddy.start()
    return meta


def test_a_certificate_cut_off_by_a_crash_is_repaired_in_the_storage_tinyforge_owns(
    caddy, upstreams, settings
):
    settings.TINYFORGE_PROXY_STORAGE = caddy.storage
    route = Route(11, ("cut.example.test",), upstreams("after the crash").dial)
    proxy.publish(route)
    meta = cut_off_certificate(caddy, "cut.example.test")

    proxy.sync([route])  # refused over the cut-off file at first; repaired, then taken

    assert set(proxy.routes_now()) == {11}
    status, body, issuer = proxylab.wait_via_https(caddy, "cut.example.test")
    assert (status, body) == (200, "after the crash") and "Caddy Local Authority" in issuer
    assert caddy.wait_for_certificates(["cut.example.test"])  # stored anew, whole
    assert json.loads(meta.read_text())


def test_a_damaged_certificate_in_a_storage_it_does_not_own_is_named_and_left_alone(
    caddy, upstreams, settings, tmp_path
):
    settings.TINYFORGE_PROXY_STORAGE = tmp_path / "another-caddy"
    route = Route(12, ("left.example.test",), upstreams("x").dial)
    proxy.publish(route)
    meta = cut_off_certificate(caddy, "left.example.test")

    with pytest.raises(ProxyError) as refused:
        proxy.sync([route])
    assert "stored certificate of left.example.test is damaged" in refused.value.message
    assert len(meta.read_text()) == 20  # not TinyForge's to change


@pytest.mark.parametrize("message, host", [
    ("loading new config: http app module: start: finalizing automatic HTTPS: managing "
     "certificates for [a.example.test]: automate: manage [a.example.test]: a.example.test: "
     "caching certificate: decoding certificate metadata: unexpected end of JSON input",
     "a.example.test"),
    ("HTTP 400 {\"error\": \"unknown module\"}", None),
    ("manage [x]: ../../etc: caching certificate: boom", None),
])
def test_the_damaged_name_is_read_from_caddys_refusal(message, host):
    assert storage.damaged_host(message) == host
