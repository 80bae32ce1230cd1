"""django-q2 targets for the metrics schedules (thin: the work lives in the modules they call)."""
import logging

from apps.metrics import retention, rollups, tallies, ticker
from apps.metrics.sampler import Sampler

log = logging.getLogger("tinyforge.metrics")


def sample_for_a_minute():
    """Every minute: sample aligned ticks until the next scheduled run takes over.

    Returns how many ticks this run sampled (0 when another run held the lease).
    """
    return len(ticker.run_sampler(Sampler))


def roll_up_and_prune():
    """Every minute: build the finished rollup buckets, count finished deploys, drop old rows."""
    built = rollups.roll_up()
    tallies.tally_deploys()
    pruned = retention.prune()
    if any(pruned.values()):
        log.info("stats retention: %s", pruned)
    return {"built": built, "pruned": pruned}
