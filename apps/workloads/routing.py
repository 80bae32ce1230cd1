"""Routes built from workloads and their containers, and Caddy kept in step with them.

``apps.workloads.proxy`` knows Caddy; this module knows which workload should be routed where:
a workload with ``domains`` in its spec is routed to its running container on the proxy
network (the one the route dials now, when it still runs; else the newest deploy's); a compose
workload has one route per routed service, each picked the same way among that service's
containers (both colours run while a deploy switches them). Used by
the reconcile pass (``sync_all``), recovery and workload updates (``refresh``) and deletes
(``withdraw``); the swap itself publishes from the source (``sources/runner.py``).
"""
import logging

from django.conf import settings

from apps.workloads import engine, hosts, proxy
from apps.workloads.engine import EngineError
from apps.workloads.models import Host, Workload
from apps.workloads.proxy import ProxyError, Route
from apps.workloads.sources.base import LABEL_PREFIX
from apps.workloads.sources.runner import (
    container_dial,
    current_containers,
    domains_of,
    routed_services,
)

log = logging.getLogger("tinyforge.proxy")


def routes_for(workload, containers, current=None):
    """The Routes ``workload`` should have given its ``containers`` (engine ContainerInfo):
    one per routed service that runs on the proxy network. ``current``: {service: dial} the
    routes point at now, kept while those containers still run."""
    current = current or {}
    routes = []
    for service, names, port in routed_services(workload.spec):
        candidates = []
        for container in containers:
            if service and container.labels.get(LABEL_PREFIX + "service") != service:
                continue
            dial = container_dial(container, port)
            if container.state == "running" and dial:
                deploy = container.labels.get(LABEL_PREFIX + "deploy", "")
                candidates.append((int(deploy) if deploy.isdigit() else 0, dial))
        if not candidates:
            continue
        dials = [dial for _deploy, dial in candidates]
        now = current.get(service)
        routes.append(Route(workload.pk, names, now if now in dials else max(candidates)[1],
                            service))
    return routes


def sync_all(keep=()):
    """Make each Caddy route every workload with domains that runs on its hosts (except the
    ids in ``keep``: a deploy is switching them) and nothing else of ours. A host's own Caddy
    (``Host.proxy_admin``) gets its workloads; the default one gets the rest and TinyForge's
    own route. Workloads on hosts marked down keep their routes untouched. Returns proxy.sync's
    counts (summed over the Caddies), or None when there is nothing to route and TinyForge has
    no server block in a default Caddy that answers. Raises ProxyError (Caddy down while
    something needs routing) or EngineError."""
    groups = {"": []}
    for host in Host.objects.exclude(proxy_admin=""):
        groups.setdefault(host.proxy_admin, [])
    for workload in Workload.objects.select_related("host").only(
            "pk", "spec", "host").order_by("pk"):
        if domains_of(workload.spec):
            host = workload.host
            groups.setdefault(host.proxy_admin if host else "", []).append(workload)
    totals = None
    for admin, routed in groups.items():
        with proxy.using_admin(admin):
            counts = _sync_one(routed, keep, default=not admin)
        if counts is not None:
            totals = {key: (totals or {}).get(key, 0) + value for key, value in counts.items()}
    return totals


def _sync_one(routed, keep, default):
    if not routed and not (default and settings.TINYFORGE_PUBLIC_URL):
        try:
            if not proxy.routes_now():
                return None
        except ProxyError:
            return None  # no proxy and nothing to route: not an error
    current = proxy.routes_now()
    routes, left = [], set(keep)
    for workload in routed:
        if workload.pk in keep:
            continue
        if workload.host is not None and workload.host.is_down:
            left.add(workload.pk)  # its containers cannot be read now: its route stays
            continue
        now = {route.service: route.dial for route in current.values()
               if route.workload_id == workload.pk}
        with engine.using(workload.host.engine_target() if workload.host else None):
            routes += routes_for(workload, current_containers(workload), now)
    return proxy.sync(routes, keep=left, self_route=default)


def refresh(workload):
    """Bring one workload's route in line with its spec and containers now (published,
    changed or withdrawn). Best effort: a proxy or engine that does not answer is left to the
    reconcile pass. Returns True when Caddy was updated."""
    try:
        with hosts.workload_engine(workload):
            return _refresh(workload)
    except (ProxyError, EngineError) as exc:
        log.warning("route of workload %s not refreshed (%s); the reconcile pass will",
                    workload.pk, getattr(exc, "code", exc))
        return False


def _refresh(workload):
    if not domains_of(workload.spec):
        return proxy.withdraw(workload.pk) if proxy.routes_now() else False
    current = {route.service: route.dial for route in proxy.routes_now().values()
               if route.workload_id == workload.pk}
    routes = routes_for(workload, current_containers(workload), current)
    for route in routes:
        proxy.publish(route)
    # Services no longer routed (or no longer running) lose their routes.
    withdrawn = proxy.withdraw(workload.pk, keep={route.key for route in routes})
    return bool(routes) or withdrawn


def withdraw(workload):
    """Remove the workload's route (before its containers go). Best effort, as ``refresh``."""
    host = hosts.host_of(workload)
    try:
        with proxy.using_admin(host.proxy_admin):
            return proxy.withdraw(workload.pk)
    except ProxyError as exc:
        log.warning("route of workload %s not withdrawn (%s); the reconcile pass will",
                    workload.pk, exc.code)
        return False
