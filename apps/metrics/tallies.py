"""Deploy counters for /metrics: finished deploys counted once each, as they finish.

The ledger itself is pruned (history limits, deleted workloads), so counting its rows would make
a counter go down. Instead each minute adds the deploys that finished since the last count to
``DeployTally`` and moves a watermark (epoch microseconds of ``finished_at``) past them.
"""
import time
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Count

from apps.deploys.models import Deploy
from apps.metrics.models import DeployTally
from apps.metrics.rollups import set_watermark, watermarks

WATERMARK = "deploys"
LAG_SECONDS = 2  # a deploy finishing right now is counted next time, never twice
TALLIES = DeployTally._meta.db_table


def tally_deploys(now=None):
    """Count deploys finished since the last call; returns {status: added}."""
    now = now if now is not None else time.time()
    upto = int((now - LAG_SECONDS) * 1_000_000)
    since = watermarks([WATERMARK]).get(WATERMARK, 0)
    if upto <= since:
        return {}
    added = dict(
        Deploy.objects.filter(finished_at__gt=_moment(since), finished_at__lte=_moment(upto))
        .values_list("status").annotate(n=Count("id")).order_by()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for status, n in added.items():
            cursor.execute(
                f"INSERT INTO {TALLIES} (status, count) VALUES (%s, %s) "
                f"ON CONFLICT (status) DO UPDATE SET count = {TALLIES}.count + excluded.count",
                [status, n],
            )
        set_watermark(cursor, WATERMARK, upto)
    return added


def _moment(micros):
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def deploy_counts():
    """{status: deploys finished with that status so far} (as of the last tally)."""
    return dict(DeployTally.objects.values_list("status", "count"))
