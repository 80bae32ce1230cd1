from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workloads", "0004_identity_engine_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="workload",
            name="desired_state",
            field=models.CharField(
                choices=[("running", "running"), ("stopped", "stopped")],
                default="running", editable=False, max_length=16,
                verbose_name="desired state",
            ),
        ),
    ]
