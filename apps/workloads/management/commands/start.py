from django.utils.translation import gettext_lazy as _

from apps.workloads import controls
from apps.workloads.controls_command import ControlCommand


class Command(ControlCommand):
    help = "Start a workload's containers (recorded in its event log)."
    control = staticmethod(controls.do_start)
    done = _("%(name)s: started, now %(state)s.")
