"""The labelled bridge network routed workloads join, so the proxy on the host can dial their
containers by IP without publishing a host port."""
from docker.errors import APIError, NotFound

from apps.workloads.engine.client import get_client, translate_errors


def ensure_network(name, labels):
    """Create the bridge network ``name`` (labelled) unless it exists; two processes racing to
    create it both end up with the one network."""
    with translate_errors("start_failed"):
        client = get_client()
        if _exists(client, name):
            return
        try:
            client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
        except APIError:
            if not _exists(client, name):
                raise


def _exists(client, name):
    # The engine's name filter matches substrings: compare exactly.
    return any(network.name == name for network in client.networks.list(names=[name]))


def remove_network(name):
    """Remove the network; a missing one is fine."""
    with translate_errors("internal"):
        try:
            get_client().networks.get(name).remove()
        except NotFound:
            pass
