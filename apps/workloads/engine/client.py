"""The connection to the Docker engine: one shared client, dropped when the engine is lost, and
the mapping of SDK/transport exceptions to ``EngineError`` codes."""
import threading

import docker
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound

from apps.workloads.engine.errors import EngineDown, EngineError, missing_manifest, port_in_use

_client = None
_stats_clients = {}
_client_lock = threading.Lock()


def _connect(**kwargs):
    if settings.DOCKER_HOST:
        return docker.DockerClient(base_url=settings.DOCKER_HOST, **kwargs)
    return docker.from_env(**kwargs)


def get_client():
    """The shared client (created on first use). Raises EngineDown."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                _client = _connect(timeout=settings.TINYFORGE_DOCKER_TIMEOUT, max_pool_size=32)
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise EngineDown(str(exc)) from exc
        return _client


def stats_client(concurrency):
    """A client of its own for the stats API, its connection pool as large as the number of
    calls in flight (those calls are slow, and would starve the shared pool)."""
    with _client_lock:
        client = _stats_clients.get(concurrency)
        if client is None:
            try:
                client = _connect(timeout=30, max_pool_size=concurrency)
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise EngineDown(str(exc)) from exc
            _stats_clients[concurrency] = client
        return client


def reset():
    """Forget every cached client: the next call connects again (to the engine as configured
    now). Called when the engine was lost, and by tests that point DOCKER_HOST elsewhere."""
    global _client
    with _client_lock:
        _client = None
        _stats_clients.clear()


def engine_is_local():
    """True when the engine runs on this machine (a unix socket), so its cgroups are readable."""
    host = settings.DOCKER_HOST
    return not host or host.startswith("unix://")


def local_socket_path():
    """The engine's unix socket path, or None when the engine is reached another way."""
    host = settings.DOCKER_HOST
    if not host:
        return "/var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


def ping():
    """True when the engine answers; never raises."""
    try:
        return bool(get_client().ping())
    except (EngineError, DockerException, requests.exceptions.RequestException):
        reset()
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
            reset()
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
