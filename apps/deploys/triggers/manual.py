from django.utils.translation import gettext_lazy as _

from apps.deploys.triggers.base import TriggerKind


class ManualTrigger(TriggerKind):
    """A named button: the admin, the API or a command fires it for all bound workloads."""

    kind = "manual"
    label = _("Manual")
    reason = "manual"
