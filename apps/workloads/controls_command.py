"""What the start, stop and restart commands share: find the workload, call the control."""
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.core.errors import Conflict
from apps.workloads.engine import EngineError
from apps.workloads.models import RUN_STATE_LABELS, Workload


class ControlCommand(BaseCommand):
    control = None  # staticmethod(controls.do_...)
    done = ""  # message once done, with %(name)s and %(state)s

    def add_arguments(self, parser):
        parser.add_argument("workload", help="workload name or id")

    def handle(self, *args, **options):
        ident = options["workload"]
        workload = (Workload.objects.filter(name=ident).first()
                    or (Workload.objects.filter(pk=int(ident)).first() if ident.isdigit()
                        else None))
        if workload is None:
            raise CommandError(_("No workload named '%(name)s'.") % {"name": ident})
        try:
            type(self).control(workload)
        except Conflict as exc:
            raise CommandError(exc.message) from None
        except EngineError as exc:
            raise CommandError(_("The Docker engine could not do this (%(code)s).")
                               % {"code": exc.code}) from None
        state = RUN_STATE_LABELS[workload.run_state]
        self.stdout.write(self.done % {"name": workload.name, "state": state})
