"""The container index: the Container rows that say what a workload runs right now."""
from apps.workloads.models import Container
from apps.workloads.sources.base import LABEL_PREFIX


def sync_index(workload, infos, keep_vanished=False):
    """Make ``workload``'s Container rows match ``infos`` (engine ContainerInfo list).

    A row whose container is gone is deleted, or with ``keep_vanished`` kept and marked
    "missing" (reconcile reports it; the next deploy clears it). Returns (added, changed,
    removed) counts, so callers can report drift.
    """
    known = {row.docker_id: row for row in workload.containers.all()}
    added = changed = 0
    for info in infos:
        values = _row_values(info)
        row = known.pop(info.id, None)
        if row is None:
            Container.objects.create(workload=workload, docker_id=info.id, **values)
            added += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            Container.objects.filter(pk=row.pk).update(**values)
            changed += 1
    gone = Container.objects.filter(pk__in=[row.pk for row in known.values()])
    if keep_vanished:
        gone = gone.exclude(state="missing")
        removed = gone.update(state="missing")
    else:
        removed = gone.delete()[0]
    return added, changed, removed


def _row_values(info):
    deploy = info.labels.get(LABEL_PREFIX + "deploy")
    _, _, digest = info.image.partition("@")
    return {
        "name": info.name,
        "service": info.labels.get(LABEL_PREFIX + "service", ""),
        "image": info.image,
        "digest": digest or info.image_id,
        "deploy_id": int(deploy) if deploy and deploy.isdigit() else None,
        "state": info.state,
    }
