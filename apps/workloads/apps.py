from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkloadsConfig(AppConfig):
    name = "apps.workloads"
    label = "workloads"
    verbose_name = _("Workloads")

    def ready(self):
        from apps.core.crypto import register_secret_source
        from apps.workloads import logs_panel
        from apps.workloads.kinds import use_choices_from
        from apps.workloads.secrets import known_secret_values
        from apps.workloads.sources import source_choices

        use_choices_from(source_choices)
        register_secret_source(known_secret_values)
        logs_panel.register()
