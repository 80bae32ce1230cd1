"""Hook tokens are stored as their SHA-256 only.

Forward: every existing token is hashed in place, so every hook URL handed out before keeps
working. Backward (cheap, but lossy by nature): the raw tokens cannot be recovered, so each
trigger gets its hash as its new raw token — the old hook URLs stop working after a downgrade and
the admin of the old version shows the new ones.

Webhook triggers without a secret are left as they are: they refuse every call (401) until a
secret is set, and the API and admin say so (see Trigger.needs_secret).
"""
import hashlib

from django.db import migrations, models


def hash_tokens(apps, schema_editor):
    Trigger = apps.get_model("deploys", "Trigger")
    for trigger in Trigger.objects.all().only("pk", "token"):
        digest = hashlib.sha256(trigger.token.encode()).hexdigest()
        Trigger.objects.filter(pk=trigger.pk).update(token_hash=digest)


def hashes_become_tokens(apps, schema_editor):
    Trigger = apps.get_model("deploys", "Trigger")
    for trigger in Trigger.objects.all().only("pk", "token_hash"):
        Trigger.objects.filter(pk=trigger.pk).update(token=trigger.token_hash)


class Migration(migrations.Migration):

    dependencies = [
        ("deploys", "0003_backups"),
    ]

    operations = [
        migrations.AddField(
            model_name="trigger",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, null=True,
                                   verbose_name="hook token (SHA-256)"),
        ),
        # Loosened first so that undoing the removal below can re-add it to existing rows.
        migrations.AlterField(
            model_name="trigger",
            name="token",
            field=models.CharField(editable=False, max_length=64, null=True,
                                   verbose_name="hook token"),
        ),
        migrations.RunPython(hash_tokens, hashes_become_tokens),
        migrations.RemoveField(model_name="trigger", name="token"),
        migrations.AlterField(
            model_name="trigger",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True,
                                   verbose_name="hook token (SHA-256)"),
        ),
    ]
