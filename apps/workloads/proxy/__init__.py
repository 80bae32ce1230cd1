"""TinyForge's side of the Caddy reverse proxy, driven only through Caddy's JSON admin API.

- ``caddy_api``: the admin API client (``TINYFORGE_PROXY_ADMIN``), ``ProxyError`` (a code);
- ``routes``: what TinyForge owns in Caddy (its server block(s), its routes, its TLS policies)
  and the idempotent changes: ``ensure_server``, ``publish``, ``withdraw``, ``sync``,
  ``current_upstream``, ``routes_now``, ``publish_self`` / ``withdraw_self``.

This package knows Caddy and nothing of the models: callers hand it ``Route`` values (see
``apps.workloads.routing`` for the ones built from workloads and their containers).
"""
from apps.workloads.proxy.caddy_api import PROXY_CODES, ProxyError, answers, using_admin
from apps.workloads.proxy.routes import (
    Route,
    current_upstream,
    ensure_server,
    is_local_name,
    public_host,
    publish,
    publish_self,
    route_id,
    routes_now,
    self_route_id,
    server_name,
    sync,
    url_for,
    withdraw,
    withdraw_self,
)

__all__ = [
    "PROXY_CODES",
    "ProxyError",
    "Route",
    "answers",
    "current_upstream",
    "ensure_server",
    "is_local_name",
    "public_host",
    "publish",
    "publish_self",
    "route_id",
    "routes_now",
    "self_route_id",
    "server_name",
    "sync",
    "url_for",
    "using_admin",
    "withdraw",
    "withdraw_self",
]
