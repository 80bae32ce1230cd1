"""What TinyForge owns in Caddy, and the idempotent changes it makes there.

Owned, and nothing else touched:

- the server block ``tinyforge-<instance>`` (``apps.http.servers``) listening on
  ``TINYFORGE_PROXY_HTTP``, plain HTTP (its automatic HTTPS is off);
- with ``TINYFORGE_PROXY_HTTPS`` set, the server block ``tinyforge-<instance>-https`` on that
  address: Caddy puts TLS on every listener of a server that has TLS (but its global
  ``http_port``), so the TLS listener needs a server of its own; it holds the same routes with
  ``@id``s ending in ``-https`` (no redirects: nothing binds port 80);
- the routes in those blocks: ``tinyforge-<instance>-w<workload id>`` (a compose workload's
  routed services: ``...-w<id>~<service>``; the HTTPS block's ``...-w<id>-https~<service>``) and
  ``tinyforge-<instance>-self`` (TinyForge's own ``TINYFORGE_PUBLIC_URL``), each a host matcher
  and one ``reverse_proxy`` handler with its upstream's ``dial`` address. Host names and
  addresses only: never an env value or a secret;
- with HTTPS on, two TLS automation policies (``apps.tls.automation.policies``) put first:
  ``tinyforge-<instance>-tls-internal`` (Caddy's internal CA: local names such as ``*.test``,
  ``*.localhost``, ``*.internal``, and every name when no ACME email is set) and
  ``tinyforge-<instance>-tls-acme`` (public names, when ``TINYFORGE_ACME_EMAIL`` is set). A
  policy without subjects would match every name, so an empty one is removed instead.

Every change is by ``@id`` (PATCH when it exists, else added), so pushing the same thing twice
changes nothing, and each admin call is applied by Caddy atomically.
"""
import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from apps.workloads.proxy import caddy_api
from apps.workloads.proxy.caddy_api import ProxyError
from apps.workloads.proxy.storage import repairing

log = logging.getLogger("tinyforge.proxy")

# Names served by Caddy's internal CA even when an ACME email is set: they cannot get a
# public certificate.
LOCAL_SUFFIXES = (".test", ".localhost", ".local", ".internal", ".example", ".invalid",
                  ".lan", ".home.arpa")
HTTPS_SUFFIX = "-https"


@dataclass(frozen=True)
class Route:
    """One route of a workload: the host names it answers and the upstream Caddy dials
    ("ip:port"). ``service`` names a compose workload's routed service ("" for a workload's
    only route)."""

    workload_id: int
    hosts: tuple
    dial: str
    service: str = ""

    @property
    def key(self):
        """The workload id for a workload's only route, (id, service) for a service's."""
        return (self.workload_id, self.service) if self.service else self.workload_id


# --- names -----------------------------------------------------------------------------------

def server_name():
    return f"tinyforge-{settings.TINYFORGE_INSTANCE}"


def https_server_name():
    return server_name() + HTTPS_SUFFIX


def route_id(workload_id, service="", suffix=""):
    # The service goes last, after "~" (a character compose service names cannot hold), so
    # a service called "x-https" can never read as the HTTPS copy of a route.
    return f"{server_name()}-w{int(workload_id)}{suffix}" + (f"~{service}" if service else "")


def self_route_id():
    return f"{server_name()}-self"


def _policy_ids():
    return {"internal": f"{server_name()}-tls-internal", "acme": f"{server_name()}-tls-acme"}


def _key_of(route_id_text):
    """The route key (see ``Route.key``) an owned route @id names, else None."""
    match = re.fullmatch(re.escape(server_name()) + r"-w(\d+)(?:" + HTTPS_SUFFIX
                         + r")?(?:~([A-Za-z0-9._-]+))?", route_id_text or "")
    if not match:
        return None
    return (int(match.group(1)), match.group(2)) if match.group(2) else int(match.group(1))


def _workload_of(key):
    return key[0] if isinstance(key, tuple) else key


def _rid(key, suffix=""):
    return route_id(*key, suffix=suffix) if isinstance(key, tuple) else route_id(
        key, suffix=suffix)


def _servers():
    """{server name: listen address} of the blocks TinyForge should own now."""
    wanted = {server_name(): settings.TINYFORGE_PROXY_HTTP}
    if settings.TINYFORGE_PROXY_HTTPS:
        wanted[https_server_name()] = settings.TINYFORGE_PROXY_HTTPS
    return wanted


def _suffix(server):
    return HTTPS_SUFFIX if server == https_server_name() else ""


def _server_path(server):
    return f"/config/apps/http/servers/{server}"


# --- the JSON Caddy gets ---------------------------------------------------------------------

def _server_json(server, listen):
    if server == https_server_name():
        automatic = {"disable_redirects": True}
    else:
        automatic = {"disable": True}
    return {"listen": [listen], "routes": [], "automatic_https": automatic}


def _route_json(rid, hosts, dial):
    return {
        "@id": rid,
        "match": [{"host": list(hosts)}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": dial}]}],
        "terminal": True,
    }


def _parse_route(item):
    """(hosts tuple, dial) of a route object as Caddy returns it, or None if not ours-shaped."""
    try:
        hosts = tuple(item["match"][0]["host"])
        dial = item["handle"][0]["upstreams"][0]["dial"]
    except (KeyError, IndexError, TypeError):
        return None
    return hosts, dial


# --- the server blocks -----------------------------------------------------------------------

def ensure_server():
    """Create TinyForge's server block(s) when missing (and fix their listen address); remove
    the HTTPS block when ``TINYFORGE_PROXY_HTTPS`` was unset. Raises ProxyError."""
    for server, listen in _servers().items():
        current = caddy_api.get(_server_path(server))
        if current is None:
            try:
                caddy_api.put(_server_path(server), _server_json(server, listen))
            except ProxyError as exc:
                # Another process created it meanwhile ("key already exists"): fine.
                if caddy_api.get(_server_path(server)) is None:
                    raise exc from None
        elif current.get("listen") != [listen]:
            caddy_api.patch(_server_path(server) + "/listen", [listen])
    if not settings.TINYFORGE_PROXY_HTTPS:
        if caddy_api.get(_server_path(https_server_name())) is not None:
            _delete_path(_server_path(https_server_name()))


def _put_route(server, rid, hosts, dial):
    """Replace the route by @id, or append it to ``server`` when Caddy has none. Nothing is
    written when Caddy already has exactly this route: every write reloads Caddy's config,
    which may reset a connection in flight (see docs/CODEMAPS/proxy.md)."""
    body = _route_json(rid, hosts, dial)
    if caddy_api.get(f"/id/{rid}") == body:
        return
    try:
        caddy_api.patch(f"/id/{rid}", body)
    except ProxyError as exc:
        if exc.code != "not_found":
            raise
        try:
            caddy_api.post(_server_path(server) + "/routes", body)
        except ProxyError as err:
            if err.code != "not_found":
                raise
            ensure_server()
            caddy_api.post(_server_path(server) + "/routes", body)


def _delete_id(rid):
    return _delete_path(f"/id/{rid}")


def _delete_path(path):
    try:
        caddy_api.delete(path)
        return True
    except ProxyError as exc:
        if exc.code != "not_found":
            raise
        return False


# --- workload routes -------------------------------------------------------------------------

@repairing
def publish(route):
    """Point ``route.hosts`` at ``route.dial`` (created or replaced by @id, in every owned
    server block). Raises ProxyError; an earlier block already switched stays switched."""
    for server in _servers():
        _put_route(server, _rid(route.key, _suffix(server)), route.hosts, route.dial)
    if settings.TINYFORGE_PROXY_HTTPS:
        _refresh_tls()


@repairing
def withdraw(workload_id, keep=()):
    """Remove the workload's routes (every service's) but those whose keys are in ``keep``;
    True when one was removed. Raises ProxyError."""
    removed = False
    for server in _servers():
        for item in caddy_api.get(_server_path(server) + "/routes") or []:
            key = _key_of(item.get("@id"))
            if key is not None and _workload_of(key) == int(workload_id) and key not in keep:
                removed = _delete_id(item["@id"]) or removed
    if removed and settings.TINYFORGE_PROXY_HTTPS:
        _refresh_tls()
    return removed


def current_upstream(workload_id, service=""):
    """The ``dial`` address the workload's (or its ``service``'s) route points at now, or
    None (no route)."""
    found = caddy_api.get(f"/id/{route_id(workload_id, service)}")
    parsed = _parse_route(found or {})
    return parsed[1] if parsed else None


def routes_now():
    """{route key: Route} as Caddy serves them now (read from the plain HTTP block); a key is
    the workload id, or (id, service) for a compose service's route."""
    found = {}
    for item in caddy_api.get(_server_path(server_name()) + "/routes") or []:
        key = _key_of(item.get("@id"))
        parsed = _parse_route(item)
        if key is not None and parsed:
            service = key[1] if isinstance(key, tuple) else ""
            found[key] = Route(_workload_of(key), parsed[0], parsed[1], service)
    return found


@repairing
def sync(routes, keep=(), self_route=True):
    """Make Caddy hold exactly ``routes`` (an iterable of Route): missing ones restored,
    changed ones replaced, owned routes of other workloads removed -- except those of the
    workload ids in ``keep`` (a deploy is switching them right now), which are left alone.
    The self route follows ``TINYFORGE_PUBLIC_URL`` (``self_route``: in the default Caddy only,
    not in a host's own). Returns {"published": n, "removed": n}.
    Raises ProxyError."""
    ensure_server()
    wanted = {route.key: route for route in routes}
    keep = set(keep)
    published = removed = 0
    for server in _servers():
        suffix = _suffix(server)
        present = {}
        for item in caddy_api.get(_server_path(server) + "/routes") or []:
            key = _key_of(item.get("@id"))
            if key is not None:
                present[key] = _parse_route(item)
        for key in present:
            if key not in wanted and _workload_of(key) not in keep:
                removed += _delete_id(_rid(key, suffix))
        for key, route in wanted.items():
            if route.workload_id in keep:
                continue
            if present.get(key) != (tuple(route.hosts), route.dial):
                _put_route(server, _rid(key, suffix), route.hosts, route.dial)
                published += 1
    if self_route and settings.TINYFORGE_PUBLIC_URL:
        publish_self()
    elif self_route:
        withdraw_self()
    _refresh_tls()
    return {"published": published, "removed": removed}


# --- TinyForge itself ------------------------------------------------------------------------

def public_host():
    """The host name of ``TINYFORGE_PUBLIC_URL``, or "" when it is not set."""
    return (urlsplit(settings.TINYFORGE_PUBLIC_URL).hostname or "").lower() \
        if settings.TINYFORGE_PUBLIC_URL else ""


def self_upstream():
    """Where gunicorn listens (``manage.py serve --bind``, default from ``TINYFORGE_BIND``)."""
    return getattr(settings, "TINYFORGE_BIND", "") or os.environ.get(
        "TINYFORGE_BIND", "127.0.0.1:8000")


@repairing
def publish_self(upstream=None):
    """Route ``TINYFORGE_PUBLIC_URL``'s host to TinyForge's own server (``upstream``, default
    ``self_upstream()``); False when no public URL is set. ``manage.py serve`` calls this once
    Caddy answers; the reconcile pass keeps it. Raises ProxyError."""
    host = public_host()
    if not host:
        return False
    dial = upstream or self_upstream()
    ensure_server()
    for server in _servers():
        _put_route(server, self_route_id() + _suffix(server), (host,), dial)
    if settings.TINYFORGE_PROXY_HTTPS:
        _refresh_tls()
    return True


def withdraw_self():
    """Remove TinyForge's own route; True when there was one. Raises ProxyError."""
    removed = False
    for suffix in ("", HTTPS_SUFFIX):
        removed = _delete_id(self_route_id() + suffix) or removed
    return removed


def url_for(host):
    """The URL a routed host name answers on through this proxy (HTTPS when its listener is
    set; the listener's port unless it is the scheme's default)."""
    listen = settings.TINYFORGE_PROXY_HTTPS or settings.TINYFORGE_PROXY_HTTP
    scheme = "https" if settings.TINYFORGE_PROXY_HTTPS else "http"
    port = listen.rsplit(":", 1)[-1] if ":" in listen else ""
    default = "443" if scheme == "https" else "80"
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "") + "/"


# --- TLS -------------------------------------------------------------------------------------

def is_local_name(host):
    """A name no public CA will certify: served by Caddy's internal CA."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return "." not in host or host == "localhost" or host.endswith(LOCAL_SUFFIXES)


def _policy_json(pid, subjects, issuer):
    return {"@id": pid, "subjects": sorted(subjects), "issuers": [issuer]}


def _refresh_tls():
    """Bring the owned TLS automation policies in line with the owned routes' host names."""
    hosts = set()
    if settings.TINYFORGE_PROXY_HTTPS:
        for item in caddy_api.get(_server_path(https_server_name()) + "/routes") or []:
            parsed = _parse_route(item)
            if parsed and (item.get("@id") or "").startswith(server_name() + "-"):
                hosts.update(parsed[0])
    email = settings.TINYFORGE_ACME_EMAIL
    wanted = {
        "internal": {h for h in hosts if is_local_name(h) or not email},
        "acme": {h for h in hosts if email and not is_local_name(h)},
    }
    issuers = {"internal": {"module": "internal"}, "acme": {"module": "acme", "email": email}}
    for kind, pid in _policy_ids().items():
        if not wanted[kind]:
            _delete_id(pid)  # no subjects would mean "every name"
            continue
        body = _policy_json(pid, wanted[kind], issuers[kind])
        current = caddy_api.get(f"/id/{pid}")
        if current == body:
            continue
        if current is not None:
            caddy_api.patch(f"/id/{pid}", body)
            continue
        policies = caddy_api.get("/config/apps/tls/automation/policies")
        if policies is None:
            caddy_api.put("/config/apps/tls/automation/policies", [body])
        elif not policies:
            caddy_api.post("/config/apps/tls/automation/policies", body)
        else:
            # First: Caddy takes the first policy whose subjects match (or that has none).
            caddy_api.put("/config/apps/tls/automation/policies/0", body)
