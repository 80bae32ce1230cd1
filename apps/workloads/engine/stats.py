"""What the metrics sampler needs from the engine: running containers, their host pids (for
cgroup files) and the stats API.

The stats API is slow per call (the daemon answers at its next 1-second collector tick), so it
runs many calls at once, on a client of its own whose connection pool matches the concurrency,
or straight over the local unix socket.
"""
import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from docker.errors import APIError, DockerException, NotFound

from apps.workloads.engine.client import (
    get_client,
    local_socket_path,
    reset,
    stats_client,
    translate_errors,
)
from apps.workloads.engine.containers import label_filters
from apps.workloads.engine.errors import EngineDown, EngineError
from apps.workloads.engine.targets import current_target

_pools = {}
_pools_lock = threading.Lock()


def _stats_pool(concurrency):
    with _pools_lock:
        pool = _pools.get(concurrency)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tf-stats")
            _pools[concurrency] = pool
        return pool


def running_container_ids(labels):
    """Ids of running containers carrying every label in ``labels`` ({key: value or None}).

    One list call without per-container inspects. Raises EngineDown.
    """
    with translate_errors("internal"):
        found = get_client().api.containers(
            filters={"label": label_filters(labels), "status": "running"})
        return [item["Id"] for item in found]


def container_pids(ids):
    """{id: host pid} for those of ``ids`` that are running (one inspect each).

    Raises EngineDown.
    """
    pids = {}
    with translate_errors("internal"):
        api = get_client().api
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
    with translate_errors("internal"):
        return int(get_client().info().get("MemTotal") or 0)


_socket_local = threading.local()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _socket_connection(path):
    """This thread's kept-alive HTTP connection to the engine's unix socket."""
    connection = getattr(_socket_local, "connection", None)
    if connection is None or getattr(connection, "socket_path", None) != path:
        connection = _UnixHTTPConnection(path, timeout=30)
        _socket_local.connection = connection
    return connection


def _stats_over_socket(path, version, container_id, one_shot):
    """One stats answer read straight off the unix socket (no SDK/requests overhead: at a few
    hundred containers per tick that overhead costs more CPU than the engine's own work)."""
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
    ids = list(ids)
    if not ids:
        return {}
    concurrency = max(1, min(concurrency, len(ids)))
    path = local_socket_path()
    if path is not None:
        version = get_client().api.api_version

        def one(container_id):
            return container_id, _stats_over_socket(path, version, container_id, one_shot)
    else:
        api = stats_client(concurrency).api

        def one(container_id):
            try:
                return container_id, api.stats(container_id, stream=False, one_shot=one_shot)
            except NotFound:
                return container_id, None

    try:
        results = list(_stats_pool(concurrency).map(one, ids))
    except (requests.exceptions.ConnectionError, OSError, http.client.HTTPException) as exc:
        reset(current_target())
        raise EngineDown(str(exc)) from exc
    except (APIError, DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError("internal", str(exc)) from exc
    return {container_id: stats for container_id, stats in results if stats}
