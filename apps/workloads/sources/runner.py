"""Running one container for a workload: the options every single-container kind shares
(command, ports, restart, limits) and the replace-the-previous-container strategy."""
import ipaddress
import re
import shlex
import time

from django.conf import settings
from django.utils.translation import gettext as _

from apps.workloads import engine, health
from apps.workloads.engine import EngineError
from apps.workloads.sources.base import LABEL_PREFIX, selector_labels, workload_labels

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# [ip:]host:container[/proto]; an IPv6 bind address goes in brackets ("[::1]:8080:80").
_PORT_RE = re.compile(
    r"^(?:(?P<ip>[0-9]+(?:\.[0-9]+)+|\[[0-9A-Fa-f:.]+\]):)?"
    r"(?:(?P<host>\d{1,5}):)?(?P<container>\d{1,5})(?:/(?P<proto>tcp|udp))?\Z"
)
_MEMORY_RE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
RUN_DEFAULTS = {"command": None, "ports": [], "restart": "unless-stopped", "limits": {}}
RUN_FIELDS = {"command", "ports", "restart", "limits", "healthcheck", "auto_rollback"}


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
    health.validate_healthcheck(spec, errors)
    for key, default in RUN_DEFAULTS.items():
        spec.setdefault(key, default)


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
    """
    spec = ctx.spec
    labels = {**ctx.labels, LABEL_PREFIX + "service": service or "app"}
    old = [c for c in current_containers(ctx.workload) if c.state != "removing"]
    ctx.mark("creating", old=[c.id for c in old],
             was_running=[c.id for c in old if c.state == "running"])
    try:
        new_id = engine.create_container(
            name=container_name(ctx.workload, ctx.deploy_id),
            image=image,
            command=spec.get("command"),
            env=ctx.env,
            labels=labels,
            ports=port_bindings(spec.get("ports") or []),
            mounts=engine_mounts(ctx.mounts, workload_labels(ctx.workload)),
            restart=spec.get("restart"),
            limits=spec.get("limits") or {},
        )
    except EngineError as exc:
        # The engine refused: nothing changed, a plain failure. A lost connection may have
        # created it all the same, so that case stays "creating" for recovery to look.
        if exc.code != "engine_down":
            ctx.mark("rolled_back")
        raise
    ctx.mark("created", new=[new_id])
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
    for container in old:
        engine.remove_container(container.id)
        ctx.log(_("Removed previous container %(id)s.") % {"id": container.id[:12]})
    ctx.mark("swapped")
    return new_id


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
        info = engine.container_info(container_id)
        # A restart policy hides a crash as "restarting" (or as a fresh "running"): count both.
        if info is None or info.state in ("exited", "dead", "restarting") or info.restart_count:
            logs = engine.container_logs(container_id) if info else ""
            code = info.exit_code if info else "?"
            detail = {"exit_code": info.exit_code} if info and info.state != "running" else {}
            raise EngineError("start_failed", f"container exited with code {code}: {logs[-500:]}",
                              detail)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)
