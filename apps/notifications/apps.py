from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from apps.core.crypto import register_secret_source
        from apps.notifications import notices
        from apps.notifications.models import channel_secret_values

        notices.connect()
        # Webhook URLs carry tokens (Slack, Discord): masked wherever core masks.
        register_secret_source(channel_secret_values)
