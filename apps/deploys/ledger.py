"""Reading and trimming the deploy ledger: what runs now, what can be rolled back to."""
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from apps.deploys.models import Deploy, Restored, Status
from apps.deploys.recovery import TOUCHED
from apps.workloads import hosts
from apps.workloads.hosts import HostDown
from apps.workloads.models import RegistryCredential
from apps.workloads.sources import UnknownSource, get_source

# Entries that may be what runs: succeeded, or interrupted after the new version had passed its
# checks and recovery kept it.
LIVE = Q(status=Status.SUCCEEDED) | Q(status=Status.INTERRUPTED, restored=Restored.NEW)


def current_deploy(workload):
    """The ledger entry of what the workload runs now, or None when nothing runs.

    The entry whose containers run (by their ``tinyforge.deploy`` label in the index) wins;
    kinds whose containers carry no deploy label fall back to the newest live entry."""
    running = workload.containers.filter(state="running")
    if not running.exists():
        return None
    live = workload.deploys.filter(LIVE)
    ids = [pk for pk in running.values_list("deploy_id", flat=True) if pk]
    if ids:
        found = live.filter(pk__in=ids).order_by("-id").first()
        if found is not None:
            return found
    return live.order_by("-id").first()


def previous_target(workload):
    """The newest successful entry before the one running now with another artifact."""
    current = current_deploy(workload)
    if current is None:
        return None
    return (workload.deploys.filter(status=Status.SUCCEEDED, pk__lt=current.pk)
            .exclude(pinned_ref=current.pinned_ref).order_by("-id").first())


# The reconcile pass re-checks stored availability older than this, a bounded batch per pass
# (each check asks the engine or the registry).
RECHECK_AFTER = timedelta(minutes=15)
RECHECK_BATCH = 200


class StoredRegistryAuth(Mapping):
    """``RegistryCredential.auth_by_host()``, read on first use only: most availability checks
    find the image locally and never ask a registry. One instance serves a batch of checks."""

    def __init__(self):
        self._by_host = None

    def _loaded(self):
        if self._by_host is None:
            self._by_host = RegistryCredential.auth_by_host()
        return self._by_host

    def __getitem__(self, host):
        return self._loaded()[host]

    def __iter__(self):
        return iter(self._loaded())

    def __len__(self):
        return len(self._loaded())


def artifact_available(deploy, registry_auth=None):
    """Can this entry's artifact run again (present, pullable by digest, or rebuildable)?

    Asks the engine (and maybe a registry): for actions and background passes only. Pages
    read the stored ``Deploy.artifact_available`` instead. ``registry_auth`` defaults to the
    stored credentials, read only if a registry is asked; callers checking many entries pass
    one ``StoredRegistryAuth`` to all."""
    if registry_auth is None:
        registry_auth = StoredRegistryAuth()
    try:
        # Asked of the engine the workload runs on now: a rollback goes there.
        with hosts.workload_engine(deploy.workload):
            return get_source(deploy.source_kind).available(deploy.workload, deploy.pinned,
                                                            registry_auth)
    except UnknownSource:
        return False
    except HostDown:
        return bool(deploy.artifact_available)  # unknown while the host is down: keep it


def record_availability(deploys):
    """Check each entry's artifact and store the answer on its row; returns {pk: bool}."""
    auth = StoredRegistryAuth()  # one read of the credentials for the whole batch, if any
    found = {deploy.pk: artifact_available(deploy, auth) for deploy in deploys}
    now = timezone.now()
    for value in (True, False):
        pks = [pk for pk, available in found.items() if available is value]
        if pks:
            Deploy.objects.filter(pk__in=pks).update(artifact_available=value,
                                                     artifact_checked_at=now)
    return found


def recheck_stale_availability(limit=RECHECK_BATCH):
    """Re-check the successful entries never checked or checked longer than RECHECK_AFTER
    ago, oldest first (a new entry is stored as available and checked by the next pass).
    Returns how many were checked."""
    stale = timezone.now() - RECHECK_AFTER
    rows = list(Deploy.objects.filter(status=Status.SUCCEEDED).exclude(pinned={})
                .filter(Q(artifact_checked_at__isnull=True) | Q(artifact_checked_at__lt=stale))
                .select_related("workload").order_by(F("artifact_checked_at").asc(
                    nulls_first=True), "id")[:limit])
    record_availability(rows)
    return len(rows)


def rollback_targets(workload, limit=None):
    """The newest ``limit`` successful entries (default: the cleanup keep setting)."""
    limit = limit or settings.TINYFORGE_KEEP_ROLLBACK_IMAGES
    return list(workload.deploys.filter(status=Status.SUCCEEDED).order_by("-id")[:limit])


def prune_ledger(workload):
    """Keep the newest TINYFORGE_HISTORY_LIMIT entries; never the running entry nor one still
    queued or running. Returns how many were deleted."""
    keep = set(workload.deploys.order_by("-id").values_list("pk", flat=True)
               [:settings.TINYFORGE_HISTORY_LIMIT])
    current = current_deploy(workload)
    if current is not None:
        keep.add(current.pk)
    doomed = (Deploy.objects.filter(workload=workload).exclude(pk__in=keep)
              .exclude(status__in=[Status.QUEUED, Status.WAITING, Status.RUNNING])
              .exclude(status=Status.INTERRUPTED, restored="", phase__in=TOUCHED))
    return doomed.delete()[0]
