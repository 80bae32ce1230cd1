"""The one package that talks to the Docker engine (the only one that imports ``docker``).

Everything else calls these functions and sees plain dataclasses and ``EngineError`` with a code
from ``CODES`` — never a docker SDK object or exception.

- ``errors``: ``CODES`` (the failure vocabulary the ledger's messages are built from),
  ``EngineError``, ``EngineDown``, facts parsed out of engine text;
- ``targets``: ``EngineTarget`` (how to reach one engine) and ``using(target)`` (which engine
  the calls in this context go to; the local one by default);
- ``client``: one pooled connection per target, ``ping``, ``reset``, the exception mapping;
- ``containers``, ``images``, ``volumes``, ``networks``: the engine objects a deploy works with;
- ``compose_cli``: compose projects through the CLI (``compose``);
- ``stats``: what the metrics sampler reads (running ids, host pids, the stats API).
"""
from apps.workloads.engine.client import engine_facts, engine_is_local, ping, reset
from apps.workloads.engine.compose_cli import compose
from apps.workloads.engine.containers import (
    ContainerInfo,
    container_info,
    container_log_lines,
    container_logs,
    containers_publishing,
    create_container,
    exec_in,
    list_containers,
    published_port,
    remove_container,
    start,
    stop,
)
from apps.workloads.engine.errors import CODES, EngineDown, EngineError, port_in_use
from apps.workloads.engine.images import (
    ImageInfo,
    build_image,
    images_in_use,
    inspect_image,
    list_images,
    pull,
    registry_digest,
    remove_image,
)
from apps.workloads.engine.networks import ensure_network, remove_network
from apps.workloads.engine.stats import (
    container_pids,
    container_stats,
    engine_memory_total,
    running_container_ids,
)
from apps.workloads.engine.targets import LOCAL, EngineTarget, current_target, using
from apps.workloads.engine.volumes import (
    clear_volume,
    ensure_volume,
    read_volume_archive,
    volume_mountpoint,
    write_volume_archive,
)

__all__ = [
    "CODES",
    "ContainerInfo",
    "EngineDown",
    "EngineError",
    "EngineTarget",
    "LOCAL",
    "ImageInfo",
    "build_image",
    "clear_volume",
    "compose",
    "container_info",
    "container_log_lines",
    "container_logs",
    "container_pids",
    "container_stats",
    "containers_publishing",
    "create_container",
    "current_target",
    "engine_facts",
    "engine_is_local",
    "engine_memory_total",
    "ensure_network",
    "ensure_volume",
    "exec_in",
    "images_in_use",
    "inspect_image",
    "list_containers",
    "list_images",
    "ping",
    "port_in_use",
    "published_port",
    "pull",
    "read_volume_archive",
    "registry_digest",
    "remove_container",
    "remove_image",
    "remove_network",
    "reset",
    "running_container_ids",
    "start",
    "stop",
    "using",
    "volume_mountpoint",
    "write_volume_archive",
]
