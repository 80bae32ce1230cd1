"""Notification channels: where operators are told that a deploy failed or was rolled back."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.crypto import EncryptedTextField


class Event(models.TextChoices):
    """What a channel can be told about (``apps.core.notices`` has the matching signals)."""

    DEPLOY_FAILED = "deploy_failed", _("A deploy failed")
    AUTO_ROLLBACK = "auto_rollback", _("An unhealthy version was rolled back")
    HOST_DOWN = "host_down", _("The Docker host is unreachable")
    TEST = "test", _("Test notification")


def channel_kind_choices():
    from apps.notifications.channels import CHANNELS

    return [(kind, channel.label) for kind, channel in CHANNELS.items()]


class Channel(models.Model):
    """One destination. The kind's plugin (``apps.notifications.channels``) says which of the
    fields it uses: ``recipients`` for e-mail, ``url`` and ``secret`` for a webhook. The URL
    and secret are stored encrypted and never shown again once saved."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=channel_kind_choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    on_deploy_failed = models.BooleanField(_("when a deploy fails"), default=True)
    on_auto_rollback = models.BooleanField(_("when an unhealthy version is rolled back"),
                                           default=True)
    on_host_down = models.BooleanField(_("when the Docker host is unreachable"), default=True)
    recipients = models.TextField(
        _("recipients"), blank=True,
        help_text=_("E-mail addresses, one per line or separated by commas."))
    url = EncryptedTextField(_("webhook URL"), blank=True)
    secret = EncryptedTextField(
        _("signing secret"), blank=True,
        help_text=_("Signs each body with HMAC-SHA256 in the X-TinyForge-Signature-256 "
                    "header (sha256=<hex>)."))
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_ok = models.BooleanField(_("last delivery succeeded"), null=True, blank=True)
    last_result = models.CharField(_("last result"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")

    def __str__(self):
        return self.name

    def wants(self, event):
        if event == Event.TEST:
            return True
        return self.enabled and getattr(self, f"on_{event}", False)

    def recipient_list(self):
        return [part.strip() for line in self.recipients.splitlines()
                for part in line.split(",") if part.strip()]


def channel_secret_values():
    """Every stored webhook URL and secret (a core secret source: masked in logs)."""
    return [value for pair in Channel.objects.values_list("url", "secret") for value in pair
            if value]
