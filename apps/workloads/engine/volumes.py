"""Named volumes: created (labelled) on first use, and where their data lives on this host."""
from docker.errors import NotFound

from apps.workloads.engine.client import engine_is_local, get_client, translate_errors


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
