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
from apps.workloads.sources.base import LABEL_PREFIX, workload_labels

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


def mounts_for(workload, labels):
    """Volume mounts for the engine; named volumes are created (labelled) on first use."""
    mounts = {}
    for volume in workload.volumes.all():
        if volume.name:
            engine.ensure_volume(volume.docker_name, labels)
        mounts[volume.source] = {
            "bind": volume.mount_path,
            "mode": "ro" if volume.read_only else "rw",
        }
    return mounts


def replace_container(ctx, image, service=""):
    """Start ``image`` as the workload's container and remove the previous one.

    With published ports the old container must release them first, so it is stopped before the
    new one starts and started again if the new one fails. Returns the new container id; raises
    EngineError("start_failed") with the previous container still (or again) running.
    """
    spec = ctx.spec
    labels = {**ctx.labels, LABEL_PREFIX + "service": service or "app"}
    old = [c for c in current_containers(ctx.workload) if c.state != "removing"]
    new_id = engine.create_container(
        name=container_name(ctx.workload, ctx.deploy_id),
        image=image,
        command=spec.get("command"),
        env=ctx.env,
        labels=labels,
        ports=port_bindings(spec.get("ports") or []),
        mounts=mounts_for(ctx.workload, workload_labels(ctx.workload)),
        restart=spec.get("restart"),
        limits=spec.get("limits") or {},
    )
    ctx.log(_("Created container %(id)s.") % {"id": new_id[:12]})
    stopped = _release_ports(ctx, old) if spec.get("ports") else []
    try:
        engine.start(new_id)
        _await_running(new_id)
        if spec.get("healthcheck"):
            health.await_healthy(new_id, spec["healthcheck"], ctx.log)
    except EngineError:
        engine.remove_container(new_id)
        for container in stopped:
            engine.start(container.id)
            ctx.log(_("Restarted previous container %(id)s.") % {"id": container.id[:12]})
        raise
    for container in old:
        engine.remove_container(container.id)
        ctx.log(_("Removed previous container %(id)s.") % {"id": container.id[:12]})
    return new_id


def container_name(workload, deploy_id):
    """tf-<workload>-<deploy>, with the install's instance label when it is not the default,
    so two installs on one engine never want the same name."""
    instance = settings.TINYFORGE_INSTANCE
    prefix = "tf" if instance == "default" else f"tf-{instance}"
    return f"{prefix}-{workload.name}-{deploy_id}"


def current_containers(workload):
    return engine.list_containers(workload_labels(workload))


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
            raise EngineError("start_failed", f"container exited with code {code}: {logs[-500:]}")
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)
