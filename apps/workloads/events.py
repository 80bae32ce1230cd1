"""The per-workload event log. Every message is masked before it is stored."""
import logging

from apps.core.crypto import mask
from apps.workloads.models import EventLog
from apps.workloads.secrets import known_secret_values

log = logging.getLogger("tinyforge.events")


def record_event(workload, kind, message):
    """Store (masked) and log one event of ``workload``, with the host it runs on."""
    text = mask(str(message), known_secret_values())
    log.info("workload=%s %s: %s", workload.name, kind, text)
    return EventLog.objects.create(workload=workload, kind=kind, message=text,
                                   host_id=getattr(workload, "host_id", None))
