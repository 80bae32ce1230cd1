"""Stored resource samples: raw per-container ticks, per-workload rollups, and the host series.

Layout (why it is shaped like this):

- Every table is keyed workload-first and then by the integer epoch ``ts``. On SQLite the
  migration makes the tables ``WITHOUT ROWID``, so that key *is* the clustered b-tree: a
  per-workload window query walks one contiguous range and reads only that workload's rows, and
  pruning deletes a contiguous prefix of each workload's range. There is no secondary index on
  the raw table, which keeps the per-tick insert and the prune cheap. (On PostgreSQL the
  migration adds a covering index instead.) A later migration that makes Django rebuild one of
  these tables on SQLite must re-apply ``WITHOUT ROWID`` (see ``migrations/0001_initial.py``).
- ``workload`` is denormalized onto each sample: the window query needs no join, and deleting a
  workload cascades to its history. ``container_id`` ties a sample to the container index
  (``workloads.Container.pk``) without a database constraint, because a redeploy replaces the
  container and its index row while the workload's history must stay.
- Rollups keep sum, count, min and max of the per-tick workload totals, so an average over any
  set of buckets is exact (sum of sums / sum of counts).
"""
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.workloads.models import Workload

MINUTE = 60
HOUR = 3600
RESOLUTIONS = (MINUTE, HOUR)


class Sample(models.Model):
    """One container at one aligned tick. Rates are averages over the time since the last read."""

    pk = models.CompositePrimaryKey("workload_id", "ts", "container_id")
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="+", db_index=False,
        verbose_name=_("workload"),
    )
    ts = models.BigIntegerField(_("time (epoch seconds)"))
    container_id = models.BigIntegerField(_("container"))
    cpu_percent = models.FloatField(_("CPU %"))
    memory_usage = models.BigIntegerField(_("memory used"))
    memory_limit = models.BigIntegerField(_("memory limit"))
    net_rx = models.BigIntegerField(_("network received per second"), default=0)
    net_tx = models.BigIntegerField(_("network sent per second"), default=0)
    blk_read = models.BigIntegerField(_("block reads per second"), default=0)
    blk_write = models.BigIntegerField(_("block writes per second"), default=0)

    class Meta:
        verbose_name = _("sample")
        verbose_name_plural = _("samples")


class RollupFields(models.Model):
    """Sum/count/min/max of the per-tick totals within one bucket (``ts`` = bucket start)."""

    ts = models.BigIntegerField(_("bucket start (epoch seconds)"))
    count = models.IntegerField(_("ticks"))
    cpu_sum = models.FloatField()
    cpu_min = models.FloatField()
    cpu_max = models.FloatField()
    memory_sum = models.FloatField()
    memory_min = models.BigIntegerField()
    memory_max = models.BigIntegerField()
    memory_limit = models.BigIntegerField()
    net_rx_sum = models.FloatField(default=0)
    net_tx_sum = models.FloatField(default=0)
    blk_read_sum = models.FloatField(default=0)
    blk_write_sum = models.FloatField(default=0)

    class Meta:
        abstract = True


class Rollup(RollupFields):
    """A workload's totals per bucket of ``resolution`` seconds (60 or 3600)."""

    pk = models.CompositePrimaryKey("workload_id", "resolution", "ts")
    workload = models.ForeignKey(
        Workload, on_delete=models.CASCADE, related_name="+", db_index=False,
        verbose_name=_("workload"),
    )
    resolution = models.IntegerField(_("resolution (seconds)"))

    class Meta:
        verbose_name = _("rollup")
        verbose_name_plural = _("rollups")


class HostSample(models.Model):
    """The host as a whole at one aligned tick."""

    ts = models.BigIntegerField(_("time (epoch seconds)"), primary_key=True)
    cpu_percent = models.FloatField(_("CPU %"))
    memory_usage = models.BigIntegerField(_("memory used"))
    memory_limit = models.BigIntegerField(_("memory limit"))
    net_rx = models.BigIntegerField(default=0)
    net_tx = models.BigIntegerField(default=0)
    blk_read = models.BigIntegerField(default=0)
    blk_write = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("host sample")
        verbose_name_plural = _("host samples")


class RemoteHostSample(models.Model):
    """Another host (``apps.workloads.models.Host``) at one aligned tick: the sum of its
    sampled containers, with its engine's memory as the limit (its /proc is not readable
    from here). The local host's series stays ``HostSample``."""

    pk = models.CompositePrimaryKey("host", "ts")
    host = models.ForeignKey("workloads.Host", on_delete=models.CASCADE, related_name="+")
    ts = models.BigIntegerField(_("time (epoch seconds)"))
    cpu_percent = models.FloatField(_("CPU %"))
    memory_usage = models.BigIntegerField(_("memory used"))
    memory_limit = models.BigIntegerField(_("memory limit"))
    net_rx = models.BigIntegerField(default=0)
    net_tx = models.BigIntegerField(default=0)
    blk_read = models.BigIntegerField(default=0)
    blk_write = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("host sample")
        verbose_name_plural = _("host samples")


class HostRollup(RollupFields):
    pk = models.CompositePrimaryKey("resolution", "ts")
    resolution = models.IntegerField(_("resolution (seconds)"))

    class Meta:
        verbose_name = _("host rollup")
        verbose_name_plural = _("host rollups")


class Watermark(models.Model):
    """How far a rollup has been built: every bucket starting before ``until`` is done."""

    name = models.CharField(max_length=40, primary_key=True)
    until = models.BigIntegerField(default=0)


class SamplerLease(models.Model):
    """The one sampler allowed to tick (a single row, id 1).

    ``owner`` holds it until ``expires_at`` (epoch seconds), renewing at each tick. A foreground
    run that finds a live owner writes its id into ``successor`` and the standing sampler hands
    over between ticks, so two samplers never sample at the same time. ``last_tick`` is the
    newest tick sampled, whoever sampled it.
    """

    owner = models.CharField(max_length=64, blank=True)
    successor = models.CharField(max_length=64, blank=True)
    expires_at = models.FloatField(default=0)
    last_tick = models.BigIntegerField(default=0)


class DeployTally(models.Model):
    """Deploys finished so far, by status: a counter that survives ledger pruning."""

    status = models.CharField(max_length=16, primary_key=True)
    count = models.BigIntegerField(default=0)
