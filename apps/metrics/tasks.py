"""django-q2 targets for the metrics schedules (thin: the work lives in the modules they call).

Sampling is not one of them: see ``apps.metrics.ticker`` (its own process).
"""
import logging

from apps.metrics import retention, rollups, tallies

log = logging.getLogger("tinyforge.metrics")


def roll_up_and_prune():
    """Every minute: build the finished rollup buckets, count finished deploys, drop old rows."""
    built = rollups.roll_up()
    tallies.tally_deploys()
    pruned = retention.prune()
    if any(pruned.values()):
        log.info("stats retention: %s", pruned)
    return {"built": built, "pruned": pruned}
