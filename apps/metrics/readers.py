"""Readers: where cumulative resource counters come from.

Every reader has one interface: ``read(docker_ids) -> {docker_id: Counters}`` for the containers
among ``docker_ids`` that are running (others are left out), and ``close()``. Rates are computed
by the sampler from two reads, so a reader only reports counters as they stand.

- ``CgroupReader`` (the fast path): the container's cgroup files (v1 or v2) and its
  ``/proc/<pid>/net/dev``, opened once and re-read with ``pread`` at every tick.
- ``ApiReader``: the Docker stats API with ``one_shot`` and bounded concurrency; for a remote
  engine, or for containers whose cgroup files cannot be read.
- ``FallbackReader``: the cgroup reader, handing what it cannot read to the API reader.
- ``HostReader``: the local host from ``/proc``.

Memory follows ``docker stats``: usage minus inactive file cache. A limit at or above the host's
total memory is "no limit" and reported as 0.
"""
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from apps.workloads import engine

log = logging.getLogger("tinyforge.metrics")

USER_HZ_NS = 10_000_000  # /proc/stat counts in 1/100 s
SECTOR_BYTES = 512
# A container found not running is looked up again only after this long (an inspect each).
NOT_RUNNING_RECHECK = 60
VIRTUAL_NET_PREFIXES = ("lo", "veth", "docker", "br-")


@dataclass(frozen=True)
class Counters:
    """Cumulative counters of one container (or the host) at one read.

    ``clock_ns`` is the wall time the CPU counter belongs to, so the CPU share between two reads
    is ``Δcpu_ns / Δclock_ns`` (1.0 = one core busy).
    """

    clock_ns: int
    cpu_ns: int
    memory_usage: int
    memory_limit: int
    net_rx: int = 0
    net_tx: int = 0
    blk_read: int = 0
    blk_write: int = 0


def unlimited_as_zero(limit, host_memory):
    """0 for "no limit": the kernel's huge sentinel, or the host's total memory Docker reports."""
    if limit <= 0 or (host_memory and limit >= host_memory):
        return 0
    return limit


def used_memory(usage, inactive_file):
    """``docker stats``' memory: usage minus the inactive file cache (when that is smaller)."""
    return usage - inactive_file if 0 <= inactive_file < usage else usage


def host_memory_total(proc_root="/proc"):
    return _meminfo(proc_root).get("MemTotal", 0)


def _meminfo(proc_root):
    values = {}
    with open(os.path.join(proc_root, "meminfo")) as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024
    return values


def parse_net_dev(text):
    """(rx_bytes, tx_bytes) summed over the interfaces of /proc/<pid>/net/dev, loopback and
    virtual bridge/veth interfaces excluded (the same interfaces ``docker stats`` counts)."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip().startswith(VIRTUAL_NET_PREFIXES):
            continue
        fields = rest.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def _stat_value(text, key):
    """The value of ``key`` in a "key value" file such as memory.stat or cpu.stat (0 if absent)."""
    prefix = key + " "
    if text.startswith(prefix):
        start = 0
    else:
        start = text.find("\n" + prefix) + 1
        if start == 0:
            return 0
    end = text.find("\n", start)
    return int(text[start + len(prefix):end if end >= 0 else None])


def parse_blkio_v1(text):
    """(read, write) bytes from blkio.throttle.io_service_bytes_recursive ("maj:min Op N")."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            if parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
    return read, write


def parse_io_stat_v2(text):
    """(read, write) bytes from io.stat ("maj:min rbytes=N wbytes=N ...")."""
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return read, write


class _Files:
    """Open descriptors for one container, re-read with ``pread`` (no open/close per tick)."""

    def __init__(self, paths):
        self.fds = {}
        try:
            for key, path in paths.items():
                self.fds[key] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.close()
            raise

    def text(self, key, size=8192):
        return os.pread(self.fds[key], size, 0).decode()

    def number(self, key):
        return int(os.pread(self.fds[key], 64, 0))

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


class CgroupLayout:
    """Where one cgroup version keeps the files a reader needs, and how to read them."""

    def __init__(self, root):
        self.root = Path(root)
        self.v2 = (self.root / "cgroup.controllers").exists()

    def readable(self):
        return self.root.is_dir() and os.access(self.root, os.R_OK | os.X_OK)

    def paths(self, proc_cgroup_text, pid, proc_root):
        """File paths for the process whose /proc/<pid>/cgroup is ``proc_cgroup_text``."""
        groups = {}
        for line in proc_cgroup_text.splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                groups[name] = path.lstrip("/")
        net = os.path.join(proc_root, str(pid), "net", "dev")
        if self.v2:
            base = self.root / groups[""]
            return {"cpu": base / "cpu.stat", "mem": base / "memory.current",
                    "memstat": base / "memory.stat", "limit": base / "memory.max",
                    "io": base / "io.stat", "net": net}
        return {
            "cpu": self._v1(groups, "cpuacct") / "cpuacct.usage",
            "mem": self._v1(groups, "memory") / "memory.usage_in_bytes",
            "memstat": self._v1(groups, "memory") / "memory.stat",
            "limit": self._v1(groups, "memory") / "memory.limit_in_bytes",
            "io": self._v1(groups, "blkio") / "blkio.throttle.io_service_bytes_recursive",
            "net": net,
        }

    def _v1(self, groups, controller):
        direct = self.root / controller
        if not direct.exists():  # co-mounted hierarchies such as "cpu,cpuacct"
            direct = next(self.root.glob(f"*{controller}*"), direct)
        return direct / groups[controller]

    def read(self, files, host_memory):
        clock_ns = time.monotonic_ns()
        if self.v2:
            cpu_ns = _stat_value(files.text("cpu"), "usage_usec") * 1000
            inactive = _stat_value(files.text("memstat", 16384), "inactive_file")
            raw_limit = files.text("limit").strip()
            limit = 0 if raw_limit == "max" else int(raw_limit)
            read, write = parse_io_stat_v2(files.text("io"))
        else:
            cpu_ns = files.number("cpu")
            inactive = _stat_value(files.text("memstat", 16384), "total_inactive_file")
            limit = files.number("limit")
            read, write = parse_blkio_v1(files.text("io"))
        rx, tx = parse_net_dev(files.text("net"))
        return Counters(
            clock_ns=clock_ns, cpu_ns=cpu_ns,
            memory_usage=used_memory(files.number("mem"), inactive),
            memory_limit=unlimited_as_zero(limit, host_memory),
            net_rx=rx, net_tx=tx, blk_read=read, blk_write=write,
        )


class CgroupReader:
    """Reads each container's cgroup files directly; the engine is asked only for new pids.

    ``unreadable`` lists the running containers of the last read whose files could not be
    opened (another pid namespace, no permission); a ``FallbackReader`` reads those elsewhere.
    """

    name = "cgroup"

    def __init__(self, cgroup_root=None, proc_root=None):
        self.layout = CgroupLayout(cgroup_root or settings.TINYFORGE_STATS_CGROUP_ROOT)
        self.proc_root = proc_root or settings.TINYFORGE_STATS_PROC_ROOT
        self.host_memory = host_memory_total(self.proc_root)
        self.files = {}
        self.unreadable = set()
        self.not_running = {}  # docker id -> when it was last found not running

    def read(self, docker_ids):
        if not engine.ping():
            raise engine.EngineDown()
        self._open_missing(docker_ids)
        found = {}
        for docker_id in docker_ids:
            files = self.files.get(docker_id)
            if files is None:
                continue
            try:
                found[docker_id] = self.layout.read(files, self.host_memory)
            except (OSError, ValueError):
                # The cgroup went away (container stopped or restarted): reopen next tick.
                self._forget(docker_id)
        return found

    def _open_missing(self, docker_ids):
        wanted = set(docker_ids)
        for docker_id in set(self.files) - wanted:
            self._forget(docker_id)
        self.not_running = {k: v for k, v in self.not_running.items() if k in wanted}
        now = time.monotonic()
        missing = [
            d for d in docker_ids if d not in self.files
            and now - self.not_running.get(d, -NOT_RUNNING_RECHECK) >= NOT_RUNNING_RECHECK
        ]
        self.unreadable = set()
        if not missing:
            return
        pids = engine.container_pids(missing)
        for docker_id in missing:
            if docker_id not in pids:
                self.not_running[docker_id] = now
                continue
            self.not_running.pop(docker_id, None)
            try:
                self.files[docker_id] = _Files(self._paths(docker_id, pids[docker_id]))
            except (OSError, KeyError, ValueError):
                self.unreadable.add(docker_id)

    def _paths(self, docker_id, pid):
        with open(os.path.join(self.proc_root, str(pid), "cgroup")) as handle:
            text = handle.read()
        if docker_id not in text:
            # Not our pid namespace's view of that container.
            raise ValueError(docker_id)
        return self.layout.paths(text, pid, self.proc_root)

    def _forget(self, docker_id):
        files = self.files.pop(docker_id, None)
        if files is not None:
            files.close()

    def close(self):
        for docker_id in list(self.files):
            self._forget(docker_id)


def counters_from_stats(stats, host_memory):
    """Counters from one Docker stats API answer (cgroup v1 or v2 engine)."""
    cpu = stats.get("cpu_stats") or {}
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    memory = stats.get("memory_stats") or {}
    extra = memory.get("stats") or {}
    inactive = extra.get("total_inactive_file", extra.get("inactive_file", 0))
    rx = tx = 0
    for network in (stats.get("networks") or {}).values():
        rx += network.get("rx_bytes", 0)
        tx += network.get("tx_bytes", 0)
    read = write = 0
    for entry in (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or "").lower()
        if op == "read":
            read += entry.get("value", 0)
        elif op == "write":
            write += entry.get("value", 0)
    return Counters(
        # system_cpu_usage is all CPUs' time; per CPU it is the wall time of the reading.
        clock_ns=int(cpu.get("system_cpu_usage", 0) // max(online, 1)),
        cpu_ns=int((cpu.get("cpu_usage") or {}).get("total_usage", 0)),
        memory_usage=used_memory(int(memory.get("usage", 0)), int(inactive)),
        memory_limit=unlimited_as_zero(int(memory.get("limit", 0)), host_memory),
        net_rx=rx, net_tx=tx, blk_read=read, blk_write=write,
    )


class ApiReader:
    """Reads through the Docker stats API, ``concurrency`` calls in flight at once."""

    name = "api"

    def __init__(self, concurrency=None):
        self.concurrency = concurrency or settings.TINYFORGE_STATS_API_CONCURRENCY
        self.host_memory = None
        self.unreadable = set()

    def read(self, docker_ids):
        if self.host_memory is None:
            self.host_memory = engine.engine_memory_total()
        running = set(engine.running_container_ids(
            {"tinyforge.instance": settings.TINYFORGE_INSTANCE}
        ))
        wanted = [d for d in docker_ids if d in running]
        raw = engine.container_stats(wanted, one_shot=True, concurrency=self.concurrency)
        return {
            docker_id: counters_from_stats(stats, self.host_memory)
            for docker_id, stats in raw.items()
            if (stats.get("cpu_stats") or {}).get("system_cpu_usage")
        }

    def close(self):
        pass


class FallbackReader:
    """The cgroup reader first; containers it cannot read go to the API reader."""

    name = "cgroup"

    def __init__(self, primary, secondary):
        self.primary = primary
        self.secondary = secondary
        self.unreadable = set()

    def read(self, docker_ids):
        found = self.primary.read(docker_ids)
        rest = [d for d in self.primary.unreadable if d not in found]
        if rest:
            found.update(self.secondary.read(rest))
        return found

    def close(self):
        self.primary.close()
        self.secondary.close()


def choose_reader(kind=None):
    """The reader for this install: ``TINYFORGE_STATS_READER`` = auto | cgroup | api.

    auto: the cgroup reader (with the API for what it cannot read) when the engine is local and
    the cgroup tree is readable; the API reader otherwise.
    """
    kind = kind or settings.TINYFORGE_STATS_READER
    if kind == "api":
        return ApiReader()
    layout = CgroupLayout(settings.TINYFORGE_STATS_CGROUP_ROOT)
    if kind == "cgroup" or (engine.engine_is_local() and layout.readable()):
        return FallbackReader(CgroupReader(), ApiReader())
    return ApiReader()


class HostReader:
    """The local host as a whole, from /proc (CPU, memory, network, disks)."""

    def __init__(self, proc_root=None, sys_root="/sys"):
        self.proc_root = proc_root or settings.TINYFORGE_STATS_PROC_ROOT
        self.sys_block = os.path.join(sys_root, "block")

    def read(self):
        clock_ns = time.monotonic_ns()
        with open(os.path.join(self.proc_root, "stat")) as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = sum(fields[:8]) - idle  # user..steal; guest time is already inside user
        memory = _meminfo(self.proc_root)
        with open(os.path.join(self.proc_root, "net", "dev")) as handle:
            rx, tx = parse_net_dev(handle.read())
        read, write = self._disks()
        total = memory.get("MemTotal", 0)
        return Counters(
            clock_ns=clock_ns, cpu_ns=busy * USER_HZ_NS,
            memory_usage=total - memory.get("MemAvailable", memory.get("MemFree", 0)),
            memory_limit=total, net_rx=rx, net_tx=tx, blk_read=read, blk_write=write,
        )

    def _disks(self):
        """Sectors read/written by physical disks (devices with a backing ``device`` link)."""
        read = write = 0
        with open(os.path.join(self.proc_root, "diskstats")) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) < 10 or not os.path.exists(
                    os.path.join(self.sys_block, parts[2], "device")
                ):
                    continue
                read += int(parts[5]) * SECTOR_BYTES
                write += int(parts[9]) * SECTOR_BYTES
        return read, write
