"""Image cleanup that respects history: never remove what a rollback may need."""
import logging

from django.conf import settings

from apps.deploys.ledger import record_availability, rollback_targets
from apps.deploys.models import Deploy, Status
from apps.workloads import engine, hosts
from apps.workloads.engine import EngineError
from apps.workloads.models import Host, Workload
from apps.workloads.sources import UnknownSource, get_source

log = logging.getLogger("tinyforge.cleanup")


def cleanup_all_hosts(dry_run=False):
    """``cleanup_images`` on every host that is not marked down, each on its own engine;
    returns {host name: (removed ids, kept ids)}. A host that fails is logged and skipped."""
    done = {}
    for host in Host.objects.order_by("pk"):
        try:
            with hosts.on_host(host):
                done[host.name] = cleanup_images(dry_run=dry_run, host=host)
        except EngineError as exc:
            log.warning("cleanup: host %s skipped (%s)", host.name, exc.code)
    return done


def cleanup_images(dry_run=False, host=None):
    """Remove images TinyForge built or pulled that no container uses and that are not pinned
    by any workload's newest TINYFORGE_KEEP_ROLLBACK_IMAGES rollback targets (on the current
    engine; ``host``: only what that host's ledger entries pulled counts as ours).

    Returns (removed ids, kept ids). Raises EngineError when the engine is unreachable.
    """
    candidates = _our_images(host)
    keep = engine.images_in_use() | _pinned_by_rollback_targets()
    removed = []
    for image_id in sorted(candidates - keep):
        if dry_run:
            removed.append(image_id)
            continue
        try:
            if engine.remove_image(image_id):
                removed.append(image_id)
        # Not forced: an image also tagged by someone else, or needed by a child image, stays.
        except EngineError as exc:
            log.info("cleanup: kept %s (%s)", image_id[:19], exc.code)
    if removed and not dry_run:
        _recheck_entries_using(set(removed), host)
    return removed, sorted(candidates & keep)


def _recheck_entries_using(image_ids, host=None):
    """Store again whether the entries whose artifact used a removed image can still run
    (one may be pullable by digest): pages read this instead of asking the engine."""
    entries = Deploy.objects.filter(status=Status.SUCCEEDED).exclude(pinned={})
    if host is not None:
        entries = entries.filter(workload__host=host)
    affected = [deploy for deploy in entries.select_related("workload")
                if _artifact_images(deploy) & image_ids]
    record_availability(affected)


def _our_images(host=None):
    built = {info.id for info in engine.list_images(
        {"tinyforge.instance": settings.TINYFORGE_INSTANCE})}
    pulled = set()
    entries = Deploy.objects.exclude(pinned={})
    if host is not None:
        entries = entries.filter(host=host)
    for deploy in entries.only("source_kind", "pinned"):
        pulled |= _artifact_images(deploy)
    return {image for image in built | pulled if image}


def _pinned_by_rollback_targets():
    pinned = set()
    for workload in Workload.objects.all():
        for deploy in rollback_targets(workload):
            pinned |= _artifact_images(deploy)
    return pinned


def _artifact_images(deploy):
    try:
        return get_source(deploy.source_kind).artifact_images(deploy.pinned)
    except UnknownSource:
        return set()
