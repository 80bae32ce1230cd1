"""A workload's runtime log: what its containers print, every known secret masked.

The lines come from the containers the index lists (compose: one per service, so ``service``
picks one); they are merged by time. A cursor (``seconds.nanoseconds`` of the newest line
returned) lets a reader ask only for what came after: the engine filters by whole seconds,
the rest is filtered here, so a line is never returned twice.
"""
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from apps.core.crypto import mask, registered_secret_values
from apps.core.errors import InvalidInput
from apps.workloads import engine
from apps.workloads.hosts import workload_engine

MAX_TAIL = 1000
CURSOR_RE = re.compile(r"^\d{1,12}(\.\d{1,9})?$")
_STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


@dataclass
class LogLine:
    time: str  # ISO 8601, UTC
    cursor: str  # seconds.nanoseconds since the epoch
    service: str
    container: str
    text: str


def parse_cursor(value):
    """The ``since`` parameter as a Decimal; InvalidInput naming ``since`` otherwise."""
    if value is None or value == "":
        return None
    if not CURSOR_RE.match(value):
        raise InvalidInput({"since": _("Give seconds since the epoch, such as 1700000000.5.")})
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern already ensures a number
        raise InvalidInput({"since": _("Not a number.")}) from None


def _cursor_of(stamp):
    """The engine's RFC 3339 nano timestamp as (Decimal seconds, ISO text), or None."""
    match = _STAMP_RE.match(stamp)
    if not match:
        return None
    whole = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    nanos = (match.group(2) or "0").ljust(9, "0")
    seconds = int(whole.timestamp())
    return Decimal(f"{seconds}.{nanos}"), f"{match.group(1)}.{nanos[:6]}Z"


def workload_log(workload, tail=200, since=None, service=None):
    """The newest ``tail`` lines of the workload's containers after ``since`` (a cursor
    string), oldest first, masked. Raises InvalidInput naming ``tail``, ``since`` or
    ``service``."""
    if not 1 <= int(tail) <= MAX_TAIL:
        raise InvalidInput({"tail": _("Must be between 1 and %(max)s.") % {"max": MAX_TAIL}})
    after = parse_cursor(since)
    containers = list(workload.containers.exclude(state="missing").order_by("id"))
    if service:
        containers = [c for c in containers if c.service == service]
        if not containers:
            raise InvalidInput({"service": _("The workload has no service of that name.")})
    lines = []
    with workload_engine(workload):
        for container in containers:
            for stamp, text in engine.container_log_lines(
                    container.docker_id, tail=tail,
                    since=int(after) if after is not None else None):
                parsed = _cursor_of(stamp)
                if parsed is None or (after is not None and parsed[0] <= after):
                    continue
                lines.append((parsed[0], parsed[1], container, text))
    lines.sort(key=lambda line: line[0])
    secrets = registered_secret_values()
    return [LogLine(time=iso, cursor=str(cursor), service=container.service,
                    container=container.name, text=mask(text, secrets))
            for cursor, iso, container, text in lines[-tail:]]
