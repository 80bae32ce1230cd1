"""Containers: create, start, stop, remove, inspect, list, logs, exec."""
from dataclasses import dataclass, field

from docker.errors import NotFound

from apps.workloads.engine.client import get_client, translate_errors


@dataclass
class ContainerInfo:
    id: str
    name: str
    image: str
    image_id: str
    state: str
    labels: dict
    exit_code: int = 0
    restart_count: int = 0
    # {network name: IP address} of the networks the container is attached to.
    addresses: dict = field(default_factory=dict)


def label_filters(labels):
    """{key: value or None} -> the engine's label filter list (None: the key is present)."""
    return [f"{k}={v}" if v is not None else k for k, v in labels.items()]


def create_container(*, name, image, command, env, labels, ports, mounts, restart, limits,
                     network=None):
    """Create (not start) a container, attached to ``network`` when given (instead of the
    default bridge); returns its id. Raises EngineError("start_failed")."""
    kwargs = {
        "name": name,
        "command": command or None,
        "environment": env,
        "labels": labels,
        "ports": ports or None,
        "volumes": mounts or None,
        "detach": True,
    }
    if network:
        kwargs["network"] = network
    if restart and restart != "no":
        kwargs["restart_policy"] = {"Name": restart}
    if limits.get("memory"):
        kwargs["mem_limit"] = limits["memory"]
    if limits.get("cpus"):
        kwargs["nano_cpus"] = int(float(limits["cpus"]) * 1e9)
    with translate_errors("start_failed"):
        return get_client().containers.create(image, **kwargs).id


def start(container_id):
    with translate_errors("start_failed"):
        get_client().api.start(container_id)


def container_info(container_id):
    """ContainerInfo, or None when the container does not exist."""
    with translate_errors("internal"):
        try:
            return _container_info(get_client().containers.get(container_id))
        except NotFound:
            return None


def _container_info(container):
    attrs = container.attrs
    state = attrs.get("State") or {}
    return ContainerInfo(
        id=container.id,
        name=container.name,
        image=(attrs.get("Config") or {}).get("Image", ""),
        image_id=attrs.get("Image", ""),
        state=state.get("Status", "unknown"),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        exit_code=state.get("ExitCode", 0) or 0,
        restart_count=attrs.get("RestartCount", 0) or 0,
        addresses={
            net: info.get("IPAddress")
            for net, info in ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).items()
            if info and info.get("IPAddress")
        },
    )


def list_containers(labels):
    """Containers (all states) carrying every label in ``labels`` ({key: value or None})."""
    with translate_errors("internal"):
        found = get_client().containers.list(all=True, filters={"label": label_filters(labels)})
        return [_container_info(c) for c in found]


def containers_publishing(port, labels):
    """Containers (any state) carrying every label in ``labels`` that publish host ``port``."""
    filters = {"label": label_filters(labels), "publish": str(int(port))}
    with translate_errors("internal"):
        return [_container_info(c) for c in get_client().containers.list(all=True,
                                                                          filters=filters)]


def container_logs(container_id, tail=20):
    with translate_errors("internal"):
        try:
            raw = get_client().api.logs(container_id, tail=tail)
        except NotFound:
            return ""
        return raw.decode("utf-8", "replace")


def container_log_lines(container_id, tail, since=None):
    """The container's last ``tail`` output lines (stdout and stderr) from ``since`` (whole
    epoch seconds) on, as ``(timestamp, text)`` pairs; the timestamp is the engine's RFC 3339
    one with nanoseconds. A container that is gone has no lines."""
    with translate_errors("internal"):
        kwargs = {"stdout": True, "stderr": True, "timestamps": True, "tail": tail}
        if since is not None:
            kwargs["since"] = int(since)
        try:
            raw = get_client().api.logs(container_id, **kwargs)
        except NotFound:
            return []
    lines = []
    for line in raw.decode("utf-8", "replace").splitlines():
        stamp, _, text = line.partition(" ")
        lines.append((stamp, text))
    return lines


def stop(container_id, timeout=10):
    with translate_errors("internal"):
        try:
            get_client().api.stop(container_id, timeout=timeout)
        except NotFound:
            pass


def remove_container(container_id):
    """Force-remove a container; a container that is already gone is fine."""
    with translate_errors("internal"):
        try:
            get_client().api.remove_container(container_id, force=True)
        except NotFound:
            pass


def exec_in(container_id, command, timeout=10):
    """Run ``command`` inside a running container; returns its exit code (None on timeout).

    Raises EngineError("health_failed") when the command cannot be started at all.
    """
    with translate_errors("health_failed"):
        api = get_client().api
        exec_id = api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
        api.exec_start(exec_id, socket=False)
        return api.exec_inspect(exec_id).get("ExitCode")


def published_port(container_id, container_port):
    """The host port a container port is published on (loopback-reachable), or None."""
    with translate_errors("internal"):
        try:
            container = get_client().containers.get(container_id)
        except NotFound:
            return None
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{container_port}/tcp") or []:
            if binding.get("HostIp") in ("", "0.0.0.0", "127.0.0.1") and binding.get("HostPort"):
                return int(binding["HostPort"])
        return None
