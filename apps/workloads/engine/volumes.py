"""Named volumes: created (labelled) on first use, where their data lives on this host, and
their contents as a tar stream on any engine (through a helper container)."""
from docker.errors import NotFound

from apps.workloads.engine.client import engine_is_local, get_client, translate_errors
from apps.workloads.engine.errors import EngineError


def ensure_volume(name, labels):
    with translate_errors("start_failed"):
        client = get_client()
        try:
            client.volumes.get(name)
        except NotFound:
            client.volumes.create(name=name, labels=labels)


def volume_mountpoint(name):
    """Where a named volume's data lives on this host, or None (missing, or engine remote)."""
    if not engine_is_local():
        return None
    with translate_errors("internal"):
        try:
            return get_client().volumes.get(name).attrs.get("Mountpoint")
        except NotFound:
            return None


class _Helper:
    """A short-lived container (created, never started) with the volume mounted at /v: the
    engine's archive API reads and writes a volume through it, on any engine, local or remote.
    Labelled like everything TinyForge makes; removed on the way out."""

    def __init__(self, name, image, labels, read_only):
        self.name, self.image, self.labels, self.read_only = name, image, labels, read_only
        self.container = None

    def __enter__(self):
        with translate_errors("internal"):
            self.container = get_client().containers.create(
                self.image, command=["true"], entrypoint=[], labels=self.labels,
                volumes={self.name: {"bind": "/v", "mode": "ro" if self.read_only else "rw"}},
                network_disabled=True)
        return self.container

    def __exit__(self, *exc):
        with translate_errors("internal"):
            self.container.remove(force=True)
        return False


def read_volume_archive(name, image, labels, sink):
    """Write the volume's contents as a tar stream (members under ``v/``) to ``sink`` (a binary
    file object), read through a helper container made from ``image`` (any image on the
    engine: the helper never runs). Raises EngineError."""
    with _Helper(name, image, labels, read_only=True) as helper, translate_errors("internal"):
        stream, _stat = helper.get_archive("/v")
        for chunk in stream:
            sink.write(chunk)


def write_volume_archive(name, image, labels, data):
    """Put ``data`` (a tar of the volume's new contents, members relative to its root) into the
    volume through a helper container. Existing files are overwritten, not removed first (the
    archive API cannot delete): ``clear_volume`` does that. Raises EngineError."""
    with _Helper(name, image, labels, read_only=False) as helper, translate_errors("internal"):
        if not helper.put_archive("/v", data):
            raise EngineError("internal", f"the engine refused the archive for volume {name}")


def clear_volume(name, image, labels):
    """Empty a volume by running ``find /v -mindepth 1 -maxdepth 1 -exec rm -rf {} +`` in a
    helper container (the image needs ``find`` and ``rm``, as busybox and distribution images
    have; busybox's find has no ``-delete``). Raises EngineError."""
    with translate_errors("internal"):
        client = get_client()
        container = client.containers.run(
            image, entrypoint=["find", "/v", "-mindepth", "1", "-maxdepth", "1", "-exec", "rm",
                               "-rf", "{}", "+"], command=[],
            labels=labels, volumes={name: {"bind": "/v", "mode": "rw"}},
            network_disabled=True, detach=True)
        try:
            result = container.wait(timeout=120)
        finally:
            container.remove(force=True)
    if result.get("StatusCode") != 0:
        raise EngineError("internal",
                          f"could not empty volume {name} (the image has no find or rm?)")
