from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("deploys", "0006_merge_identity"),
    ]

    operations = [
        # Existing rows start as "available, never checked": the next reconcile pass checks them.
        migrations.AddField(
            model_name="deploy",
            name="artifact_available",
            field=models.BooleanField(default=True, verbose_name="artifact available"),
        ),
        migrations.AddField(
            model_name="deploy",
            name="artifact_checked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="artifact checked"),
        ),
    ]
