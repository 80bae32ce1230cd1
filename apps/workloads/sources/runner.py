"""Running one container for a workload: the options every single-container kind shares
(command, ports, restart, limits) and the replace-the-previous-container strategy."""
import contextvars
import ipaddress
import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.utils.translation import gettext as _

from apps.workloads import engine, health, proxy
from apps.workloads.engine import EngineError
from apps.workloads.proxy import ProxyError, Route
from apps.workloads.sources.base import LABEL_PREFIX, selector_labels, workload_labels

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# [ip:]host:container[/proto]; an IPv6 bind address goes in brackets ("[::1]:8080:80").
_PORT_RE = re.compile(
    r"^(?:(?P<ip>[0-9]+(?:\.[0-9]+)+|\[[0-9A-Fa-f:.]+\]):)?"
    r"(?:(?P<host>\d{1,5}):)?(?P<container>\d{1,5})(?:/(?P<proto>tcp|udp))?\Z"
)
_MEMORY_RE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
RUN_DEFAULTS = {"command": None, "ports": [], "restart": "unless-stopped", "limits": {}}
ROUTING_FIELDS = {"domains", "http_port", "drain_seconds", "stop_grace_seconds"}
RUN_FIELDS = {"command", "ports", "restart", "limits", "healthcheck", "auto_rollback"} | (
    ROUTING_FIELDS)
# A host name: dot-separated labels of letters, digits and inner hyphens (at least two labels).
_HOST_RE = re.compile(r"^(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
                      r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+\Z")
MAX_DOMAINS = 50
DRAIN_DEFAULT_S = 2
STOP_GRACE_DEFAULT_S = 10
ROUTING_MAX_S = 300


def validate_run_options(spec, errors):
    """Clean the shared run options of ``spec`` in place, adding messages to ``errors``."""
    command = spec.get("command")
    if isinstance(command, str):
        try:
            spec["command"] = shlex.split(command) or None
        except ValueError:
            errors["command"] = _("The command has unbalanced quotes.")
    elif command is not None and not (
        isinstance(command, list) and all(isinstance(part, str) for part in command)
    ):
        errors["command"] = _("Give the command as a string or a list of strings.")
    ports = spec.get("ports") or []
    if not isinstance(ports, list):
        errors["ports"] = _("Give ports as a list like [\"8080:80\"].")
    else:
        for index, port in enumerate(ports):
            if not isinstance(port, str) or not _valid_port(port):
                errors[f"ports[{index}]"] = _(
                    "Use [ip:]host_port:container_port[/tcp|udp], ports 1-65535."
                )
    spec["ports"] = ports if isinstance(ports, list) else []
    if spec.get("restart", "unless-stopped") not in RESTART_POLICIES:
        errors["restart"] = _("Restart policy must be one of: %(choices)s.") % {
            "choices": ", ".join(RESTART_POLICIES)
        }
    _validate_limits(spec, errors)
    _validate_routing(spec, errors)
    health.validate_healthcheck(spec, errors)
    for key, default in RUN_DEFAULTS.items():
        spec.setdefault(key, default)


def _validate_routing(spec, errors):
    """``domains`` (host names the proxy routes here), ``http_port`` (the container port it
    dials; required with domains), ``drain_seconds`` and ``stop_grace_seconds`` (bounded).
    Absent keys stay absent: a spec without routing is stored as it was."""
    if "domains" in spec:
        cleaned = clean_domains(spec["domains"], "domains", errors)
        if cleaned is not None:
            spec["domains"] = cleaned
    clean_http_port(spec.get("http_port"), bool(spec.get("domains")), "http_port", errors)
    clean_routing_times(spec, errors)


def clean_domains(domains, field, errors, seen=None):
    """Lowercased host names, or None with messages in ``errors`` under ``field[i]``.
    ``seen``: names already taken by another list of the same spec."""
    if not isinstance(domains, list) or len(domains) > MAX_DOMAINS:
        errors[field] = _("Give at most %(max)s host names as a list.") % {"max": MAX_DOMAINS}
        return None
    seen = set() if seen is None else seen
    bad = False
    for index, host in enumerate(domains):
        if not isinstance(host, str) or not _HOST_RE.match(host.lower()):
            errors[f"{field}[{index}]"] = _("Not a valid host name (like app.example.test).")
            bad = True
        elif host.lower() in seen:
            errors[f"{field}[{index}]"] = _("This host name is listed twice.")
            bad = True
        else:
            seen.add(host.lower())
    return None if bad else [host.lower() for host in domains]


def clean_http_port(port, required, field, errors):
    if port is not None and not (isinstance(port, int) and not isinstance(port, bool)
                                 and 1 <= port <= 65535):
        errors[field] = _("Give the container port the proxy dials, 1-65535.")
    elif port is None and required:
        errors[field] = _("Required with domains: the container port the proxy dials.")


def clean_routing_times(spec, errors):
    for key in ("drain_seconds", "stop_grace_seconds"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(
                value, bool) and 0 <= value <= ROUTING_MAX_S):
            errors[key] = _("Give a number of seconds from 0 to %(max)s.") % {
                "max": ROUTING_MAX_S}


def domains_of(spec):
    """The host names a (valid) spec routes, lowercased, its compose routes' included; []
    without any."""
    return [host for _service, hosts, _port in routed_services(spec) for host in hosts]


def routed_services(spec):
    """[(service, host names, container port)] a spec routes: a compose spec's ``routes``
    (one per routed service), else the workload's only route (service "") when it has
    ``domains``."""
    if not isinstance(spec, dict):
        return []
    found = []
    routes = spec.get("routes")
    for route in routes if isinstance(routes, list) else []:
        hosts = route.get("domains") if isinstance(route, dict) else None
        if isinstance(hosts, list) and hosts:
            found.append((str(route.get("service", "")),
                          tuple(h.lower() for h in hosts if isinstance(h, str)),
                          route.get("http_port")))
    domains = spec.get("domains")
    if isinstance(domains, list) and domains:
        found.append(("", tuple(h.lower() for h in domains if isinstance(h, str)),
                      spec.get("http_port")))
    return found


def _valid_port(text):
    match = _PORT_RE.match(text)
    if not match:
        return False
    if match.group("ip") is not None:
        if match.group("host") is None:
            return False  # "ip:port" would publish the container port on a random host port
        try:
            ipaddress.ip_address(_bind_address(match))
        except ValueError:
            return False
    numbers = [match.group("container"), match.group("host")]
    return all(1 <= int(n) <= 65535 for n in numbers if n)


def _bind_address(match):
    """The bind address as the engine wants it: IPv6 without its brackets."""
    return match.group("ip").strip("[]")


def _validate_limits(spec, errors):
    limits = spec.get("limits") or {}
    if not isinstance(limits, dict):
        errors["limits"] = _("Limits must be an object with memory and cpus.")
        spec["limits"] = {}
        return
    for key in limits:
        if key not in ("memory", "cpus"):
            errors[f"limits.{key}"] = _("Unknown field.")
    memory = limits.get("memory")
    if memory is not None and not (
        (isinstance(memory, int) and memory > 0) or _MEMORY_RE.match(str(memory))
    ):
        errors["limits.memory"] = _("Give memory as bytes or like 256m or 1g.")
    cpus = limits.get("cpus")
    if cpus is not None and not (isinstance(cpus, (int, float)) and 0 < cpus <= 512):
        errors["limits.cpus"] = _("Give cpus as a positive number such as 0.5.")
    spec["limits"] = limits


def port_bindings(ports):
    """["127.0.0.1:8080:80"] -> {"80/tcp": ("127.0.0.1", 8080)} as the engine wants it."""
    bindings = {}
    for text in ports:
        match = _PORT_RE.match(text)
        key = f"{match.group('container')}/{match.group('proto') or 'tcp'}"
        host = int(match.group("host")) if match.group("host") else None
        bindings[key] = (_bind_address(match), host) if match.group("ip") else host
    return bindings


def published_ports(ports):
    """{(host ip, host port, proto)} a ``ports`` list publishes on the host; "0.0.0.0" stands for
    every address. Entries without a host port (the engine picks one) and invalid ones are
    left out."""
    found = set()
    for text in ports if isinstance(ports, list) else []:
        match = _PORT_RE.match(text) if isinstance(text, str) else None
        if match and match.group("host"):
            found.add((match.group("ip") or "0.0.0.0", int(match.group("host")),
                       match.group("proto") or "tcp"))
    return found


def ports_clash(mine, theirs):
    """The first host port both sets publish (same port and proto, and the same address or
    either on every address), else None."""
    for ip, port, proto in sorted(mine):
        for other_ip, other_port, other_proto in theirs:
            if port == other_port and proto == other_proto and (
                ip == other_ip or "0.0.0.0" in (ip, other_ip)
            ):
                return port
    return None


def engine_mounts(mounts, labels):
    """``Mount``s as the engine wants them; named volumes are created (labelled) on first use."""
    result = {}
    for mount in mounts:
        if mount.volume:
            engine.ensure_volume(mount.source, labels)
        result[mount.source] = {"bind": mount.target, "mode": "ro" if mount.read_only else "rw"}
    return result


def replace_container(ctx, image, service=""):
    """Start ``image`` as the workload's container and remove the previous one.

    With published ports the old container must release them first, so it is stopped before the
    new one starts and started again if the new one fails. Returns the new container id; raises
    EngineError("start_failed") with the previous container still (or again) running.

    Each step is reported through ``ctx.mark`` before the next begins (creating, created,
    old_stopped, started, checked, swapped; rolled_back after an undo), so that when this
    process dies or loses the engine half-way, recovery can put back the last good state.

    A workload with domains and no published ports swaps behind the proxy instead, without a
    gap (``swap_behind_proxy``).
    """
    spec = ctx.spec
    if domains_of(spec) and not spec.get("ports"):
        return swap_behind_proxy(ctx, image, service)
    if spec.get("ports"):
        ctx.log(_("This workload publishes host ports: its previous container stops before the "
                  "new one starts, so requests fail during the swap. Give it domains and no "
                  "ports to swap without a gap behind the proxy."))
    labels = {**ctx.labels, LABEL_PREFIX + "service": service or "app"}
    if domains_of(spec):
        labels[LABEL_PREFIX + "http-port"] = str(spec["http_port"])
    old = [c for c in current_containers(ctx.workload) if c.state != "removing"]
    ctx.mark("creating", old=[c.id for c in old],
             was_running=[c.id for c in old if c.state == "running"])
    new_id = _create_new(ctx, image, spec, labels,
                         ports=port_bindings(spec.get("ports") or []))
    ctx.log(_("Created container %(id)s.") % {"id": new_id[:12]})
    stopped = _release_ports(ctx, old) if spec.get("ports") else []
    if stopped:
        ctx.mark("old_stopped")
    try:
        engine.start(new_id)
        ctx.mark("started")
        _await_running(new_id)
        if spec.get("healthcheck"):
            health.await_healthy(new_id, spec["healthcheck"], ctx.log)
    except EngineError as exc:
        # Should the engine be lost here too, the error escapes with the phase still "started"
        # (or earlier) and recovery finishes this undo later.
        engine.remove_container(new_id)
        for container in stopped:
            engine.start(container.id)
            ctx.log(_("Restarted previous container %(id)s.") % {"id": container.id[:12]})
        if "port" in exc.detail:
            holder = port_holder(exc.detail["port"], ctx.workload)
            if holder is not None:
                exc.detail["holder_id"] = holder
        ctx.mark("rolled_back")
        raise
    ctx.mark("checked")
    if domains_of(spec):
        _publish_after_stop_first(ctx, new_id)
    for container in old:
        engine.remove_container(container.id)
        ctx.log(_("Removed previous container %(id)s.") % {"id": container.id[:12]})
    ctx.mark("swapped")
    return new_id


# --- behind the proxy -------------------------------------------------------------------------

def proxy_network():
    """The labelled bridge network routed containers join: the proxy on the host dials their
    IP there, no host port is published."""
    return f"tf-{settings.TINYFORGE_INSTANCE}-proxy"


def proxy_network_labels():
    return {LABEL_PREFIX + "instance": settings.TINYFORGE_INSTANCE,
            LABEL_PREFIX + "network": "proxy"}


def _network_for(spec):
    if not domains_of(spec):
        return None
    engine.ensure_network(proxy_network(), proxy_network_labels())
    return proxy_network()


def container_dial(info, default_port=None):
    """"ip:port" the proxy dials for a container on the proxy network (its port from the
    ``tinyforge.http-port`` label it was created with), or None."""
    ip = (info.addresses or {}).get(proxy_network())
    port = info.labels.get(LABEL_PREFIX + "http-port") or default_port
    return f"{ip}:{port}" if ip and port else None


def swap_behind_proxy(ctx, image, service=""):
    """Start-first swap for a workload with domains: the new container starts beside the old
    one, must run and answer (its health check, else HTTP on ``http_port`` below 500) before
    a deadline, then the route is pointed at it; only then do the previous containers drain
    and stop -- handed to ``ctx.retire`` so that this happens after the deploy is recorded.

    Any failure before the route moved leaves the route on the previous container, which never
    stopped, and removes the new one. Marks: creating, created, started, checked, routed (the
    route points at the new container); rolled_back after an undo.
    """
    spec = ctx.spec
    hosts = tuple(domains_of(spec))
    try:
        proxy.ensure_server()  # no proxy, no swap: fail before anything is touched
    except ProxyError as exc:
        raise EngineError("proxy_failed", exc.message) from None
    labels = {**ctx.labels, LABEL_PREFIX + "service": service or "app",
              LABEL_PREFIX + "http-port": str(spec["http_port"])}
    old = [c for c in current_containers(ctx.workload) if c.state != "removing"]
    ctx.mark("creating", old=[c.id for c in old],
             was_running=[c.id for c in old if c.state == "running"])
    new_id = _create_new(ctx, image, spec, labels, ports=None)
    ctx.log(_("Created container %(id)s beside the running one.") % {"id": new_id[:12]})
    previous = None
    try:
        engine.start(new_id)
        ctx.mark("started")
        dial = _await_ready(ctx, new_id)
        ctx.mark("checked")
        previous = proxy.current_upstream(ctx.workload.pk)
        proxy.publish(Route(ctx.workload.pk, hosts, dial))
    except (EngineError, ProxyError) as exc:
        engine.remove_container(new_id)
        if isinstance(exc, ProxyError) and previous:
            _restore_route(ctx, hosts, previous)
        ctx.mark("rolled_back")
        ctx.log(_("The route stays on the previous container, which kept running."))
        if isinstance(exc, ProxyError):
            raise EngineError("proxy_failed", exc.message) from None
        raise
    ctx.mark("routed")
    ctx.log(_("Traffic for %(hosts)s now goes to container %(id)s (%(dial)s).") % {
        "hosts": ", ".join(hosts), "id": new_id[:12], "dial": dial})
    drain = spec.get("drain_seconds", DRAIN_DEFAULT_S)
    grace = spec.get("stop_grace_seconds", STOP_GRACE_DEFAULT_S)
    if old:
        ctx.log(_("Previous containers drain for %(drain)ss, then stop (grace %(grace)ss).")
                % {"drain": drain, "grace": grace})
        if ctx.retire is not None:
            ctx.retire([c.id for c in old], drain, grace)
        else:
            retire_containers([c.id for c in old], drain, grace)
    return new_id


def _await_ready(ctx, container_id):
    return await_ready(container_id, ctx.spec["http_port"], ctx.log,
                       ctx.spec.get("healthcheck"))


def await_ready(container_id, port, log, healthcheck=None):
    """Poll until a new container runs and answers (its ``healthcheck``, else HTTP on
    ``port`` below 500); returns its "ip:port" on the proxy network. Raises EngineError
    start_failed (it exited) or health_failed (no answer by the deadline, or its health check
    failed)."""
    deadline = time.monotonic() + settings.TINYFORGE_PROXY_READY_TIMEOUT
    while True:
        info = engine.container_info(container_id)
        _raise_if_crashed(container_id, info)
        dial = container_dial(info, port)
        if dial:
            ip = dial.rsplit(":", 1)[0]
            if healthcheck:
                health.await_healthy(container_id, healthcheck, log, address=ip)
                _raise_if_crashed(container_id, engine.container_info(container_id))
                return dial
            if health.answers_http(ip, port):
                _raise_if_crashed(container_id, engine.container_info(container_id))
                log(_("The new container answers on %(dial)s.") % {"dial": dial})
                return dial
        if time.monotonic() >= deadline:
            raise EngineError("health_failed", f"no HTTP answer on port {port} "
                              f"within {settings.TINYFORGE_PROXY_READY_TIMEOUT}s")
        time.sleep(0.05)


def _restore_route(ctx, hosts, previous):
    try:
        proxy.publish(Route(ctx.workload.pk, hosts, previous))
    except ProxyError as exc:
        ctx.log(_("Could not put the route back (%(error)s); the reconcile pass will.")
                % {"error": exc.message})


def _publish_after_stop_first(ctx, new_id):
    """Stop-first path of a workload with both domains and ports: point its route at the new
    container; a proxy that does not answer is left to the reconcile pass."""
    dial = container_dial(engine.container_info(new_id), ctx.spec["http_port"])
    try:
        if dial:
            proxy.publish(Route(ctx.workload.pk, tuple(domains_of(ctx.spec)), dial))
    except ProxyError as exc:
        ctx.log(_("Could not update the route (%(error)s); the reconcile pass will.")
                % {"error": exc.message})


def retire_containers(container_ids, drain, grace, log=None):
    """Let the previous containers finish what they serve (``drain`` seconds: the route no
    longer sends them anything new), then stop them with ``grace`` and remove them."""
    if drain:
        time.sleep(drain)  # a deliberate drain period, not a wait for a condition
    _stop_side_by_side(container_ids, int(grace))
    for container_id in container_ids:
        engine.remove_container(container_id)
        if log:
            log(_("Removed previous container %(id)s after draining.") % {
                "id": container_id[:12]})


def _stop_side_by_side(container_ids, grace):
    """Stop the containers at the same time: each may take its whole grace (a PID 1 that
    ignores SIGTERM), and a stack retires several. Each thread runs in a copy of this context,
    so it talks to the same engine. Raises the first EngineError."""
    if len(container_ids) < 2:
        for container_id in container_ids:
            engine.stop(container_id, timeout=grace)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(container_ids))) as pool:
        stops = [pool.submit(contextvars.copy_context().run, engine.stop, container_id,
                             timeout=grace) for container_id in container_ids]
        for stop in stops:
            stop.result()


def container_name(workload, deploy_id):
    """<engine key>-<deploy>: the key holds the instance and the workload id, so two installs
    on one engine never want the same name and a rename changes nothing."""
    return f"{workload.engine_key}-{deploy_id}"


def current_containers(workload):
    return engine.list_containers(selector_labels(workload))


def port_holder(port, workload):
    """The id of another workload of this install whose container publishes host ``port``."""
    try:
        found = engine.containers_publishing(
            port, {LABEL_PREFIX + "instance": settings.TINYFORGE_INSTANCE})
    except EngineError:
        return None
    for container in found:
        owner = container.labels.get(LABEL_PREFIX + "workload", "")
        if owner.isdigit() and int(owner) != workload.pk and container.state == "running":
            return int(owner)
    return None


def _release_ports(ctx, old):
    stopped = []
    for container in old:
        if container.state == "running":
            engine.stop(container.id)
            stopped.append(container)
            ctx.log(_("Stopped previous container %(id)s to free its ports.") % {
                "id": container.id[:12]
            })
    return stopped


def _await_running(container_id):
    """The container must still be running after the start grace period (polled, not slept)."""
    deadline = time.monotonic() + settings.TINYFORGE_START_GRACE
    while True:
        _raise_if_crashed(container_id, engine.container_info(container_id))
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def _raise_if_crashed(container_id, info):
    # A restart policy hides a crash as "restarting" (or as a fresh "running"): count both.
    if info is None or info.state in ("exited", "dead", "restarting") or info.restart_count:
        logs = engine.container_logs(container_id) if info else ""
        code = info.exit_code if info else "?"
        detail = {"exit_code": info.exit_code} if info and info.state != "running" else {}
        raise EngineError("start_failed", f"container exited with code {code}: {logs[-500:]}",
                          detail)


def _create_new(ctx, image, spec, labels, ports):
    """Create (not start) the new container of a deploy, for both swaps; marks the phase."""
    try:
        new_id = engine.create_container(
            name=container_name(ctx.workload, ctx.deploy_id),
            image=image,
            command=spec.get("command"),
            env=ctx.env,
            labels=labels,
            ports=ports,
            mounts=engine_mounts(ctx.mounts, workload_labels(ctx.workload)),
            restart=spec.get("restart"),
            limits=spec.get("limits") or {},
            network=_network_for(spec),
        )
    except EngineError as exc:
        # The engine refused: nothing changed, a plain failure. A lost connection may have
        # created it all the same, so that case stays "creating" for recovery to look.
        if exc.code != "engine_down":
            ctx.mark("rolled_back")
        raise
    ctx.mark("created", new=[new_id])
    return new_id
