"""Engine names fixed per workload (issue 8 §1): a rename must not orphan containers or swap a
named volume for an empty one.

Existing rows are filled with the names their engine objects already have, so nothing is
recreated empty after the upgrade: named volumes keep ``tf-<name>-<volume>`` and compose
workloads keep the project ``tf-<name>``. Other workloads get the new key; their containers are
found by labels, so the container name prefix is free to change.
"""
import hashlib
import re
import secrets

from django.conf import settings
from django.db import migrations, models


def _instance_slug(instance):
    slug = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")[:30].strip("-") or "x"
    if slug != instance:
        slug += "-" + hashlib.sha256(instance.encode()).hexdigest()[:6]
    return slug


def _old_compose_project(name):
    # The rule compose.sanitize_project_name applied to "tf-<name>" before this migration.
    return re.sub(r"[^a-z0-9_-]+", "-", f"tf-{name}".lower()).strip("-_") or "tinyforge"


def adopt_existing_names(apps, schema_editor):
    Workload = apps.get_model("workloads", "Workload")
    Volume = apps.get_model("workloads", "Volume")
    taken = set()
    workloads = list(Workload.objects.order_by("pk"))
    for workload in workloads:
        if workload.kind == "compose":
            workload.engine_key = _old_compose_project(workload.name)
            taken.add(workload.engine_key)
    slug = _instance_slug(settings.TINYFORGE_INSTANCE)
    for workload in workloads:
        if workload.kind != "compose":
            key = f"tf-{slug}-{workload.pk}-{secrets.token_hex(2)}"
            workload.engine_key = key if key not in taken else f"{key}-m"
            taken.add(workload.engine_key)
        Workload.objects.filter(pk=workload.pk).update(engine_key=workload.engine_key)
    names = dict(Workload.objects.values_list("pk", "name"))
    for volume in Volume.objects.exclude(name=""):
        Volume.objects.filter(pk=volume.pk).update(
            engine_name=f"tf-{names[volume.workload_id]}-{volume.name}")


class Migration(migrations.Migration):

    dependencies = [
        ("workloads", "0003_backups"),
    ]

    operations = [
        migrations.AddField(
            model_name="workload",
            name="engine_key",
            field=models.CharField(editable=False, max_length=100, null=True, unique=True,
                                   verbose_name="engine key"),
        ),
        migrations.AddField(
            model_name="volume",
            name="engine_name",
            field=models.CharField(blank=True, editable=False, max_length=255,
                                   verbose_name="engine volume"),
        ),
        migrations.RunPython(adopt_existing_names, migrations.RunPython.noop),
    ]
