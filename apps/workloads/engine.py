"""The one module that talks to the Docker engine.

Everything else calls these functions and sees plain dicts/tuples and ``EngineError`` with a code
from the ledger's vocabulary — never a docker SDK object or exception.
"""
import logging
import re
import threading
from dataclasses import dataclass, field

import docker
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

log = logging.getLogger("tinyforge.engine")

_client = None
_client_lock = threading.Lock()


class EngineError(Exception):
    """An engine operation failed; ``code`` is one of the ledger's error codes.

    ``message`` is the raw engine text (log only: it may echo a secret). ``detail`` holds facts
    parsed out of it that cannot carry one (an exit code, a port number, an image reference we
    asked for), for the ledger: see ``apps.deploys.failures``.
    """

    def __init__(self, code, message, detail=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = dict(detail or {})


class EngineDown(EngineError):
    def __init__(self, message="Docker engine unreachable"):
        super().__init__("engine_down", message)


@dataclass
class ImageInfo:
    id: str
    repo_digests: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)

    def digest_for(self, repository):
        """The registry digest ("sha256:…") this image has in ``repository``, or ""."""
        for item in self.repo_digests:
            repo, _, digest = item.partition("@")
            if repo == repository:
                return digest
        return ""


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


def _connect():
    kwargs = {"timeout": settings.TINYFORGE_DOCKER_TIMEOUT, "max_pool_size": 32}
    if settings.DOCKER_HOST:
        return docker.DockerClient(base_url=settings.DOCKER_HOST, **kwargs)
    return docker.from_env(**kwargs)


def _get_client():
    global _client
    with _client_lock:
        if _client is None:
            try:
                _client = _connect()
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise EngineDown(str(exc)) from exc
        return _client


def _reset():
    global _client
    with _client_lock:
        _client = None


# What the engine says when a host port cannot be published: "Bind for 0.0.0.0:8080 failed:
# port is already allocated" or "listen tcp4 127.0.0.1:8080: bind: address already in use".
# Only the port number is kept from such a text.
_PORT_TAKEN_RES = (
    re.compile(r"Bind for [0-9a-fA-F.:\[\]]*:(\d{1,5}) failed: port is already allocated"),
    re.compile(
        r"listen (?:tcp|udp)[46]? [0-9a-fA-F.:\[\]]*:(\d{1,5}): bind: address already in use"),
)


def port_in_use(text):
    """The host port an engine error says is already taken, or None."""
    for pattern in _PORT_TAKEN_RES:
        match = pattern.search(text or "")
        if match and 1 <= int(match.group(1)) <= 65535:
            return int(match.group(1))
    return None


def _missing_manifest(text):
    lowered = (text or "").lower()
    return "manifest unknown" in lowered or (
        "manifest for" in lowered and "not found" in lowered)


class _translate_errors:
    """Context manager mapping SDK/transport exceptions to EngineError codes."""

    def __init__(self, code, missing=None):
        self.code = code
        # The image reference being pulled: named as missing when the registry has no manifest.
        self.missing = missing

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, EngineError):
            return False
        if isinstance(exc, requests.exceptions.ConnectionError):
            _reset()
            raise EngineDown(str(exc)) from exc
        if isinstance(exc, APIError):
            text = str(exc.explanation or exc)
            lowered = text.lower()
            if "unauthorized" in lowered or "authentication required" in lowered or (
                "no basic auth" in lowered
            ):
                raise EngineError("auth_failed", text) from exc
            detail = {}
            port = port_in_use(text)
            if port is not None:
                detail["port"] = port
            if self.missing and (_missing_manifest(text) or isinstance(exc, NotFound)):
                detail["missing"] = self.missing
            raise EngineError(self.code, text, detail) from exc
        if isinstance(exc, (DockerException, requests.exceptions.RequestException)):
            raise EngineError(self.code, str(exc)) from exc
        return False


def ping():
    """True when the engine answers; never raises."""
    try:
        return bool(_get_client().ping())
    except (EngineError, DockerException, requests.exceptions.RequestException):
        _reset()
        return False


def _image_info(image):
    attrs = image.attrs
    return ImageInfo(
        id=image.id,
        repo_digests=list(attrs.get("RepoDigests") or []),
        tags=list(attrs.get("RepoTags") or []),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
    )


def pull(repository, tag, auth=None):
    """Pull ``repository:tag`` (or ``repository@sha256:…`` when tag is a digest); returns ImageInfo.

    Raises EngineError("auth_failed" | "pull_failed" | "engine_down").
    """
    separator = "@" if str(tag).startswith("sha256:") else ":"
    with _translate_errors("pull_failed", missing=f"{repository}{separator}{tag}"):
        image = _get_client().images.pull(repository, tag=tag, auth_config=auth or None)
        return _image_info(image)


def inspect_image(ref):
    """ImageInfo for a local image reference or id, or None when it is not present."""
    with _translate_errors("internal"):
        try:
            return _image_info(_get_client().images.get(ref))
        except ImageNotFound:
            return None


def remove_image(ref, force=False):
    """Remove a local image; False when it was not there."""
    with _translate_errors("internal"):
        try:
            _get_client().images.remove(ref, force=force)
            return True
        except ImageNotFound:
            return False


def ensure_volume(name, labels):
    with _translate_errors("start_failed"):
        client = _get_client()
        try:
            client.volumes.get(name)
        except NotFound:
            client.volumes.create(name=name, labels=labels)


def create_container(*, name, image, command, env, labels, ports, mounts, restart, limits):
    """Create (not start) a container; returns its id. Raises EngineError("start_failed")."""
    kwargs = {
        "name": name,
        "command": command or None,
        "environment": env,
        "labels": labels,
        "ports": ports or None,
        "volumes": mounts or None,
        "detach": True,
    }
    if restart and restart != "no":
        kwargs["restart_policy"] = {"Name": restart}
    if limits.get("memory"):
        kwargs["mem_limit"] = limits["memory"]
    if limits.get("cpus"):
        kwargs["nano_cpus"] = int(float(limits["cpus"]) * 1e9)
    with _translate_errors("start_failed"):
        return _get_client().containers.create(image, **kwargs).id


def start(container_id):
    with _translate_errors("start_failed"):
        _get_client().api.start(container_id)


def container_info(container_id):
    """ContainerInfo, or None when the container does not exist."""
    with _translate_errors("internal"):
        try:
            return _container_info(_get_client().containers.get(container_id))
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
    )


def list_containers(labels):
    """Containers (all states) carrying every label in ``labels`` ({key: value or None})."""
    filters = [f"{k}={v}" if v is not None else k for k, v in labels.items()]
    with _translate_errors("internal"):
        found = _get_client().containers.list(all=True, filters={"label": filters})
        return [_container_info(c) for c in found]


def containers_publishing(port, labels):
    """Containers (any state) carrying every label in ``labels`` that publish host ``port``."""
    filters = {"label": [f"{k}={v}" if v is not None else k for k, v in labels.items()],
               "publish": str(int(port))}
    with _translate_errors("internal"):
        return [_container_info(c) for c in _get_client().containers.list(all=True,
                                                                           filters=filters)]


def container_logs(container_id, tail=20):
    with _translate_errors("internal"):
        try:
            raw = _get_client().api.logs(container_id, tail=tail)
        except NotFound:
            return ""
        return raw.decode("utf-8", "replace")


def stop(container_id, timeout=10):
    with _translate_errors("internal"):
        try:
            _get_client().api.stop(container_id, timeout=timeout)
        except NotFound:
            pass


def remove_container(container_id):
    """Force-remove a container; a container that is already gone is fine."""
    with _translate_errors("internal"):
        try:
            _get_client().api.remove_container(container_id, force=True)
        except NotFound:
            pass


# --- builds, registries and compose (the engine's other doors) -------------------------------

def build_image(*, path, dockerfile, tag, labels, buildargs, log):
    """Build ``path`` with the classic builder, streaming output lines to ``log``.

    Returns ImageInfo of the built image. Raises EngineError("build_failed" | "engine_down").
    """
    with _translate_errors("build_failed"):
        stream = _get_client().api.build(
            path=str(path), dockerfile=dockerfile, tag=tag, labels=labels,
            buildargs=buildargs or None, rm=True, forcerm=True, decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise EngineError("build_failed", chunk["error"].strip())
            text = (chunk.get("stream") or "").rstrip()
            if text:
                log(text)
        return _image_info(_get_client().images.get(tag))


def registry_digest(reference, auth=None):
    """The digest a registry serves for ``reference`` now, without pulling. Raises EngineError."""
    with _translate_errors("pull_failed"):
        return _get_client().images.get_registry_data(reference, auth_config=auth or None).id


def _compose_command():
    import shutil

    if shutil.which("docker") and _run_cli(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise EngineError("internal", "neither 'docker compose' nor 'docker-compose' is installed")


def _run_cli(args, cwd=None, timeout=None):
    import os
    import subprocess

    env = dict(os.environ)
    if settings.DOCKER_HOST:
        env["DOCKER_HOST"] = settings.DOCKER_HOST
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout or settings.TINYFORGE_DEPLOY_TIMEOUT,
    )


def compose(project, compose_file, *args):
    """Run a compose subcommand for ``project``; returns its combined output.

    Raises EngineError: "auth_failed" or "pull_failed" when images cannot be fetched,
    "start_failed" otherwise, "engine_down" when the engine does not answer.
    """
    command = _compose_command() + ["-p", project, "-f", str(compose_file), *args]
    try:
        proc = _run_cli(command, cwd=str(compose_file.parent))
    except OSError as exc:
        raise EngineError("internal", str(exc)) from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        return output
    lowered = output.lower()
    if "unauthorized" in lowered or "authentication required" in lowered:
        raise EngineError("auth_failed", output)
    if "manifest unknown" in lowered or "pull access denied" in lowered or "not found" in lowered:
        raise EngineError("pull_failed", output)
    if "connection refused" in lowered or "cannot connect to the docker daemon" in lowered:
        raise EngineDown(output)
    port = port_in_use(output)
    raise EngineError("start_failed", output, {"port": port} if port is not None else {})


# --- Metrics: what the sampler needs from the engine -----------------------------------------
# The stats API is slow per call (the daemon answers at its next 1-second collector tick), so it
# runs many calls at once on a client of its own whose connection pool matches the concurrency.

_stats_clients = {}
_stats_pools = {}


def engine_is_local():
    """True when the engine runs on this machine (a unix socket), so its cgroups are readable."""
    host = settings.DOCKER_HOST
    return not host or host.startswith("unix://")


def _stats_client(concurrency):
    with _client_lock:
        client = _stats_clients.get(concurrency)
        if client is None:
            kwargs = {"timeout": 30, "max_pool_size": concurrency}
            try:
                if settings.DOCKER_HOST:
                    client = docker.DockerClient(base_url=settings.DOCKER_HOST, **kwargs)
                else:
                    client = docker.from_env(**kwargs)
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise EngineDown(str(exc)) from exc
            _stats_clients[concurrency] = client
        return client


def _stats_pool(concurrency):
    from concurrent.futures import ThreadPoolExecutor

    with _client_lock:
        pool = _stats_pools.get(concurrency)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tf-stats")
            _stats_pools[concurrency] = pool
        return pool


def _forget_stats_client(concurrency):
    with _client_lock:
        _stats_clients.pop(concurrency, None)


def running_container_ids(labels):
    """Ids of running containers carrying every label in ``labels`` ({key: value or None}).

    One list call without per-container inspects. Raises EngineDown.
    """
    filters = [f"{k}={v}" if v is not None else k for k, v in labels.items()]
    with _translate_errors("internal"):
        found = _get_client().api.containers(filters={"label": filters, "status": "running"})
        return [item["Id"] for item in found]


def container_pids(ids):
    """{id: host pid} for those of ``ids`` that are running (one inspect each).

    Raises EngineDown.
    """
    pids = {}
    with _translate_errors("internal"):
        api = _get_client().api
        for container_id in ids:
            try:
                state = api.inspect_container(container_id).get("State") or {}
            except NotFound:
                continue
            if state.get("Running") and state.get("Pid"):
                pids[container_id] = int(state["Pid"])
    return pids


def engine_memory_total():
    """The engine host's total memory in bytes (what the stats API reports as "no limit")."""
    with _translate_errors("internal"):
        return int(_get_client().info().get("MemTotal") or 0)


def _local_socket_path():
    """The engine's unix socket path, or None when the engine is reached another way."""
    host = settings.DOCKER_HOST
    if not host:
        return "/var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


_socket_local = threading.local()


def _socket_connection(path):
    """This thread's kept-alive HTTP connection to the engine's unix socket."""
    import http.client
    import socket

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(path)
            self.sock = sock

    connection = getattr(_socket_local, "connection", None)
    if connection is None or getattr(connection, "socket_path", None) != path:
        connection = UnixHTTPConnection("localhost", timeout=30)
        connection.socket_path = path
        _socket_local.connection = connection
    return connection


def _stats_over_socket(path, version, container_id, one_shot):
    """One stats answer read straight off the unix socket (no SDK/requests overhead: at a few
    hundred containers per tick that overhead costs more CPU than the engine's own work)."""
    import http.client
    import json

    url = f"/v{version}/containers/{container_id}/stats?stream=0&one-shot={int(one_shot)}"
    for attempt in (1, 2):
        connection = _socket_connection(path)
        try:
            connection.request("GET", url)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            _socket_local.connection = None
            if attempt == 2:
                raise
            continue  # a kept-alive connection the engine had closed: once more, fresh
        if response.status == 404:
            return None
        if response.status != 200:
            raise EngineError("internal", body.decode("utf-8", "replace")[:200])
        return json.loads(body)


def container_stats(ids, one_shot=True, concurrency=64):
    """{id: raw stats dict} from the Docker stats API, ``concurrency`` calls in flight at once.

    ``one_shot`` asks for a single reading without the daemon's second "pre-CPU" tick, so
    ``precpu_stats`` is empty and CPU % must come from two calls. Containers that vanished are
    left out. Raises EngineDown when the engine cannot be reached.
    """
    import http.client

    ids = list(ids)
    if not ids:
        return {}
    concurrency = max(1, min(concurrency, len(ids)))
    path = _local_socket_path()
    if path is not None:
        version = _get_client().api.api_version

        def one(container_id):
            return container_id, _stats_over_socket(path, version, container_id, one_shot)
    else:
        api = _stats_client(concurrency).api

        def one(container_id):
            try:
                return container_id, api.stats(container_id, stream=False, one_shot=one_shot)
            except NotFound:
                return container_id, None

    try:
        results = list(_stats_pool(concurrency).map(one, ids))
    except (requests.exceptions.ConnectionError, OSError, http.client.HTTPException) as exc:
        _forget_stats_client(concurrency)
        _reset()
        raise EngineDown(str(exc)) from exc
    except (APIError, DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError("internal", str(exc)) from exc
    return {container_id: stats for container_id, stats in results if stats}


def exec_in(container_id, command, timeout=10):
    """Run ``command`` inside a running container; returns its exit code (None on timeout).

    Raises EngineError("health_failed") when the command cannot be started at all.
    """
    with _translate_errors("health_failed"):
        api = _get_client().api
        exec_id = api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
        api.exec_start(exec_id, socket=False)
        return api.exec_inspect(exec_id).get("ExitCode")


def published_port(container_id, container_port):
    """The host port a container port is published on (loopback-reachable), or None."""
    with _translate_errors("internal"):
        try:
            container = _get_client().containers.get(container_id)
        except NotFound:
            return None
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{container_port}/tcp") or []:
            if binding.get("HostIp") in ("", "0.0.0.0", "127.0.0.1") and binding.get("HostPort"):
                return int(binding["HostPort"])
        return None


def list_images(labels):
    """Local images carrying every label in ``labels`` ({key: value})."""
    filters = [f"{k}={v}" for k, v in labels.items()]
    with _translate_errors("internal"):
        return [_image_info(image) for image in _get_client().images.list(
            filters={"label": filters})]


def images_in_use():
    """Image ids used by any container on the engine, whatever its state."""
    with _translate_errors("internal"):
        return {c.attrs.get("Image", "") for c in _get_client().containers.list(all=True)}


def volume_mountpoint(name):
    """Where a named volume's data lives on this host, or None (missing, or engine remote)."""
    if not engine_is_local():
        return None
    with _translate_errors("internal"):
        try:
            return _get_client().volumes.get(name).attrs.get("Mountpoint")
        except NotFound:
            return None
