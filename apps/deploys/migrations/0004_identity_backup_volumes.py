"""Backups keyed by volume identity (issue 8 §1).

Archives made before this migration name their members by position ("0", "1", ...). Each is
mapped to the volume at that position in the workload's list as it stands at the upgrade, the
best record there is; from then on a restore writes a member only into that volume.
"""
from django.db import migrations, models


def record_volume_identities(apps, schema_editor):
    Backup = apps.get_model("deploys", "Backup")
    Volume = apps.get_model("workloads", "Volume")
    for backup in Backup.objects.filter(status="ok"):
        volumes = Volume.objects.filter(workload_id=backup.workload_id).order_by("pk")
        mapping = {
            str(index): (f"volume:{v.engine_name}" if v.name else f"host:{v.host_path}")
            for index, v in enumerate(volumes)
        }
        Backup.objects.filter(pk=backup.pk).update(volumes=mapping)


class Migration(migrations.Migration):

    dependencies = [
        ("deploys", "0003_backups"),
        ("workloads", "0004_identity_engine_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="backup",
            name="volumes",
            field=models.JSONField(blank=True, default=dict, editable=False,
                                   verbose_name="volumes"),
        ),
        migrations.RunPython(record_volume_identities, migrations.RunPython.noop),
    ]
