"""The admin index as a dashboard: a card per workload (state, version, a CPU/memory
sparkline of the last hour, the last deploy) above the system resources card.

Bounded queries whatever the fleet: the workloads with their newest ledger row annotated and
their containers prefetched (2), the newest rows themselves (1), and every sparkline from the
1-minute rollups in one grouped query (1). No engine call.
"""
import time

from django.db import connection
from django.db.models import OuterRef, Prefetch, Subquery
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from apps.deploys.models import Deploy
from apps.metrics.models import MINUTE
from apps.metrics.rollups import ROLLUPS
from apps.workloads.models import RUN_STATE_LABELS, Container, Workload

MAX_CARDS = 100  # more workloads: the cards stop here and link to the full list
SPARK_WINDOW = 3600
SPARK_BUCKET = 300  # 12 points over the hour
SPARK_WIDTH, SPARK_HEIGHT = 120, 28


def sparklines(workload_ids, now=None):
    """{workload id: [(ts, cpu %, memory bytes)]} over the last hour, from the 1-minute
    rollups, in one query."""
    if not workload_ids:
        return {}
    start = int(now if now is not None else time.time()) - SPARK_WINDOW
    marks = ", ".join(["%s"] * len(workload_ids))
    b = SPARK_BUCKET
    sql = (f"SELECT workload_id, (ts / {b}) * {b} AS t, SUM(cpu_sum) / SUM(count), "
           f"SUM(memory_sum) / SUM(count) FROM {ROLLUPS} WHERE workload_id IN ({marks}) "
           f"AND resolution = {MINUTE} AND ts >= %s GROUP BY workload_id, t "
           f"ORDER BY workload_id, t")
    series = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*workload_ids, start])
        for workload_id, ts, cpu, memory in cursor.fetchall():
            series.setdefault(workload_id, []).append((int(ts), float(cpu or 0),
                                                       float(memory or 0)))
    return series


def _polyline(values, top):
    if not values:
        return ""
    step = SPARK_WIDTH / max(1, len(values) - 1)
    scale = (SPARK_HEIGHT - 2) / top if top > 0 else 0
    return " ".join(f"{i * step:.1f},{SPARK_HEIGHT - 1 - v * scale:.1f}"
                    for i, v in enumerate(values))


def _spark(points):
    if not points:
        return None
    cpu = [p[1] for p in points]
    memory = [p[2] for p in points]
    return {
        "cpu_points": _polyline(cpu, max(max(cpu), 1.0)),
        "memory_points": _polyline(memory, max(memory)),
        "cpu_now": round(cpu[-1], 1),
        "memory_now_mib": round(memory[-1] / 2**20, 1),
        "count": len(points),
    }


def workload_cards(now=None):
    """The cards, in name order, and whether there were more than MAX_CARDS."""
    newest = Deploy.objects.filter(workload=OuterRef("pk")).order_by("-id")
    workloads = list(
        Workload.objects.select_related("host")
        .annotate(last_deploy_id=Subquery(newest.values("id")[:1]))
        .prefetch_related(Prefetch("containers", queryset=Container.objects.order_by("id")))
        .order_by("name")[:MAX_CARDS + 1])
    more = len(workloads) > MAX_CARDS
    workloads = workloads[:MAX_CARDS]
    deploys = Deploy.objects.in_bulk([w.last_deploy_id for w in workloads if w.last_deploy_id])
    series = sparklines([w.pk for w in workloads], now=now)
    cards = []
    for workload in workloads:
        state = workload.run_state
        digests = sorted({c.digest for c in workload.containers.all() if c.digest})
        images = sorted({c.image for c in workload.containers.all() if c.image})
        last = deploys.get(workload.last_deploy_id)
        cards.append({
            "name": workload.name,
            "url": reverse("admin:workloads_workload_change", args=[workload.pk]),
            "state": state,
            "state_label": RUN_STATE_LABELS[state],
            "image": ", ".join(images),
            "digest": ", ".join(digests),
            "short": ", ".join(d.split(":")[-1][:12] for d in digests),
            "spark": _spark(series.get(workload.pk, [])),
            "last": last and {
                "id": last.pk, "status": last.status, "label": last.get_status_display(),
                "when": date_format(localtime(last.finished_at or last.created_at),
                                    "SHORT_DATETIME_FORMAT"),
                "url": reverse("admin:deploys_deploy_change", args=[last.pk]),
            },
        })
    return cards, more
