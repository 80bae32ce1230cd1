"""The connection to the Docker engine: one shared client, dropped when the engine is lost, and
the mapping of SDK/transport exceptions to ``EngineError`` codes."""
import threading

import docker
import docker.tls
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound

from apps.workloads.engine import ssh_tunnel
from apps.workloads.engine.errors import EngineDown, EngineError, missing_manifest, port_in_use
from apps.workloads.engine.targets import EngineTarget, credentials_dir, current_target

# One client per engine target (and per stats concurrency): {(target, purpose): client}.
# Keyed by the target itself (frozen, compared by value), so a host whose address or
# certificates changed gets a new connection.
_clients = {}
_client_lock = threading.Lock()


class _HostCAClient(docker.APIClient):
    """An API client that verifies the engine against the host's own CA only: requests would
    otherwise prefer a CA bundle named in the environment (REQUESTS_CA_BUNDLE) to the
    session's."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged["verify"] = self.verify
        return merged


def _connect(target: EngineTarget, **kwargs):
    url = target.effective_url
    if target.scheme == "tcp" and target.tls_cert:
        path = credentials_dir(target)
        tls = docker.tls.TLSConfig(
            client_cert=(f"{path}/cert.pem", f"{path}/key.pem"), ca_cert=f"{path}/ca.pem",
            verify=True)
        client = docker.DockerClient.__new__(docker.DockerClient)
        client.api = _HostCAClient(base_url=url.replace("tcp://", "https://", 1), tls=tls,
                                   **kwargs)
        return client
    if target.scheme == "ssh":
        sock = ssh_tunnel.local_socket(target, connect_timeout=min(kwargs.get("timeout", 10), 10))
        return docker.DockerClient(base_url=f"unix://{sock}", **kwargs)
    if url:
        return docker.DockerClient(base_url=url, **kwargs)
    return docker.from_env(**kwargs)


def _cached(purpose, make):
    target = current_target()
    if target.scheme == "ssh":
        # The client talks to the tunnel's local socket: a tunnel that ended (a broken
        # connection) starts again at the same path, so the cached client stays good.
        ssh_tunnel.local_socket(target)
    with _client_lock:
        client = _clients.get((target, purpose))
        if client is None:
            try:
                client = make(target)
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise EngineDown(str(exc)) from exc
            _clients[(target, purpose)] = client
        return client


def get_client():
    """The current target's shared client (created on first use). Raises EngineDown."""
    def make(target):
        timeout = target.timeout or settings.TINYFORGE_DOCKER_TIMEOUT
        return _connect(target, timeout=timeout, max_pool_size=32)
    return _cached("shared", make)


def stats_client(concurrency):
    """A client of its own for the stats API, its connection pool as large as the number of
    calls in flight (those calls are slow, and would starve the shared pool)."""
    return _cached(("stats", concurrency),
                   lambda target: _connect(target, timeout=30, max_pool_size=concurrency))


def reset(target=None):
    """Forget cached clients: the next call connects again (to the engine as configured now).
    ``target=None`` forgets every client (tests that point DOCKER_HOST elsewhere); the lost-engine
    path forgets only the current target's, so a lost host never drops another host's
    connections."""
    with _client_lock:
        for key in list(_clients):
            if target is None or key[0] == target:
                del _clients[key]


def engine_is_local():
    """True when the current engine runs on this machine (a unix socket), so its cgroups are
    readable."""
    return current_target().is_local


def local_socket_path():
    """The current engine's unix socket path, or None when it is reached another way."""
    return current_target().socket_path


def engine_facts():
    """What the current engine says of itself: version, cgroup version, CPUs, memory.
    Raises EngineError."""
    with translate_errors("engine_down"):
        client = get_client()
        info = client.info()
        version = client.version()
    return {
        "version": version.get("Version", ""),
        "api_version": version.get("ApiVersion", ""),
        "os": info.get("OperatingSystem", ""),
        "cgroup_version": str(info.get("CgroupVersion", "")),
        "cpus": int(info.get("NCPU") or 0),
        "memory": int(info.get("MemTotal") or 0),
    }


def ping():
    """True when the engine answers; never raises."""
    try:
        return bool(get_client().ping())
    except (EngineError, DockerException, requests.exceptions.RequestException):
        reset(current_target())
        return False


class translate_errors:
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
            reset(current_target())
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
            if self.missing and (missing_manifest(text) or isinstance(exc, NotFound)):
                detail["missing"] = self.missing
            raise EngineError(self.code, text, detail) from exc
        if isinstance(exc, (DockerException, requests.exceptions.RequestException)):
            raise EngineError(self.code, str(exc)) from exc
        return False
