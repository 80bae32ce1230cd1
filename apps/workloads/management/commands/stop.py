from django.utils.translation import gettext_lazy as _

from apps.workloads import controls
from apps.workloads.controls_command import ControlCommand


class Command(ControlCommand):
    help = "Stop a workload's containers (recorded in its event log)."
    control = staticmethod(controls.do_stop)
    done = _("%(name)s: stopped, now %(state)s.")
