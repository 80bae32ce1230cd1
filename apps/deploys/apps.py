from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploysConfig(AppConfig):
    name = "apps.deploys"
    label = "deploys"
    verbose_name = _("Deploys")

    def ready(self):
        from apps.deploys import signals  # noqa: F401  (connects the schedule receivers)
