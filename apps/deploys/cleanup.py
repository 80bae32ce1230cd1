"""Image cleanup that respects history: never remove what a rollback may need."""
import logging

from django.conf import settings

from apps.deploys.ledger import record_availability, rollback_targets
from apps.deploys.models import Deploy, Status
from apps.workloads import engine
from apps.workloads.engine import EngineError
from apps.workloads.models import Workload
from apps.workloads.sources import UnknownSource, get_source

log = logging.getLogger("tinyforge.cleanup")


def cleanup_images(dry_run=False):
    """Remove images TinyForge built or pulled that no container uses and that are not pinned
    by any workload's newest TINYFORGE_KEEP_ROLLBACK_IMAGES rollback targets.

    Returns (removed ids, kept ids). Raises EngineError when the engine is unreachable.
    """
    candidates = _our_images()
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
        _recheck_entries_using(set(removed))
    return removed, sorted(candidates & keep)


def _recheck_entries_using(image_ids):
    """Store again whether the entries whose artifact used a removed image can still run
    (one may be pullable by digest): pages read this instead of asking the engine."""
    affected = [deploy for deploy in Deploy.objects.filter(status=Status.SUCCEEDED)
                .exclude(pinned={}).select_related("workload")
                if _artifact_images(deploy) & image_ids]
    record_availability(affected)


def _our_images():
    built = {info.id for info in engine.list_images(
        {"tinyforge.instance": settings.TINYFORGE_INSTANCE})}
    pulled = set()
    for deploy in Deploy.objects.exclude(pinned={}).only("source_kind", "pinned"):
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
