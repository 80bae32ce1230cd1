"""django-q2 task targets: thin wrappers that find the row and hand it to the deploy code."""
from apps.deploys.dispatch import execute, fire_trigger
from apps.deploys.models import Deploy, Status, Trigger
from apps.deploys.triggers import get_trigger_kind


def run_deploy(deploy_id):
    deploy = Deploy.objects.select_related("workload").filter(pk=deploy_id).first()
    if deploy is not None and deploy.status == Status.QUEUED:
        # Parked (not waiting) when the lock is taken: a worker is never held by a lock.
        execute(deploy, park=True)


def poll_trigger(trigger_id):
    """A trigger's schedule came due: fire it when its kind says so (a cron always does)."""
    trigger = Trigger.objects.filter(pk=trigger_id).first()
    if trigger is None:
        return []
    fire = get_trigger_kind(trigger.kind).should_fire(trigger)
    Trigger.objects.filter(pk=trigger.pk).update(state=trigger.state)
    return [deploy.pk for deploy in fire_trigger(trigger)] if fire else []


def reconcile():
    from apps.deploys.reconcile import reconcile_all

    return reconcile_all()


def watch_health(deploy_id):
    """Watch a freshly live auto-rollback deploy for the grace period; roll back if it sickens."""
    from apps.deploys.replays import watch_and_roll_back

    deploy = Deploy.objects.select_related("workload").filter(pk=deploy_id).first()
    return watch_and_roll_back(deploy) if deploy is not None else None


def cleanup_images():
    from apps.deploys.cleanup import cleanup_all_hosts

    return sum(len(removed) for removed, _kept in cleanup_all_hosts().values())


def retire_previous(deploy_id, container_ids, drain, grace):
    """Drain and stop the previous containers of a deploy that swapped behind the proxy."""
    from apps.deploys.dispatch import retire_previous as retire

    return retire(deploy_id, container_ids, drain, grace)
