"""A realistic fleet in the database only (no engine objects): workloads with env vars (one
secret), volumes, indexed containers, a ledger of successful and failed deploys, triggers and a
chain. Pages and endpoints must render all of it from the database."""
import uuid
from datetime import timedelta

from django.test import override_settings
from django.utils import timezone


def seed_fleet(count, deploys_each=30, user=None):
    """``count`` workloads, each with ``deploys_each`` ledger rows; returns the workloads."""
    from apps.deploys.models import Backup, Deploy, Trigger
    from apps.workloads import actions
    from apps.workloads.models import Container

    tag = uuid.uuid4().hex[:6]
    # The bind mounts below are allowed the way an install allows them (host access policy).
    with override_settings(TINYFORGE_HOST_PATHS=["/srv/fleet"]):
        workloads = [_one(actions, tag, number) for number in range(count)]
    for first, second in zip(workloads, workloads[1:], strict=False):
        first.chain.add(second)
    now = timezone.now()
    rows = []
    for workload in workloads:
        for step in range(deploys_each):
            failed = step % 7 == 3
            digest = f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}"
            rows.append(Deploy(
                workload=workload, reason="api", requested_by=user, source_kind="image",
                status="failed" if failed else "succeeded",
                error_code="start_failed" if failed else "",
                error_detail={"exit_code": 3} if failed else {},
                pinned_ref="" if failed else digest,
                pinned={} if failed else {
                    "image": f"127.0.0.1:1/fleet/app@{digest}", "image_id": digest,
                    "digest": digest, "tag": "live"},
                log="line\n" * 20,
                started_at=now - timedelta(minutes=deploys_each - step),
                finished_at=now - timedelta(minutes=deploys_each - step, seconds=-4),
            ))
    Deploy.objects.bulk_create(rows)
    last = {d.workload_id: d for d in Deploy.objects.filter(status="succeeded").order_by("id")}
    Container.objects.bulk_create([
        Container(workload=workload, docker_id=f"{tag}{workload.pk:06d}{uuid.uuid4().hex}",
                  name=f"{workload.engine_key}-{last[workload.pk].pk}", image="app:live",
                  digest=last[workload.pk].pinned_ref, state="running",
                  deploy_id=last[workload.pk].pk)
        for workload in workloads
    ])
    Backup.objects.bulk_create([
        Backup(workload=w, deploy=last[w.pk], status="ok", size=10) for w in workloads
    ])
    for kind in ("webhook", "schedule"):
        config = {"cron": "0 3 * * *"} if kind == "schedule" else {}
        trigger = Trigger.objects.create(name=f"{kind}-{tag}", kind=kind, config=config)
        trigger.workloads.set(workloads)
    return workloads


def _one(actions, tag, number):
    return actions.create_workload(
        name=f"fleet-{tag}-{number}", kind="image",
        spec={"image": f"127.0.0.1:1/fleet/app{number}:live"},
        env=[{"key": "MODE", "value": "prod"}, {"key": "LEVEL", "value": str(number)},
             {"key": "TOKEN", "value": f"fleet-secret-{number}", "secret": True}],
        volumes=[{"name": "data", "mount_path": "/data"},
                 {"host_path": f"/srv/fleet/{number}", "mount_path": "/srv", "read_only": True}],
    )
