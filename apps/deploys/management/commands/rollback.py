import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.core.console_logs import console_logs_to_file
from apps.core.errors import Conflict
from apps.deploys.management.commands.deploy import failure_summary, find_workload, seconds
from apps.deploys.models import Deploy, Status
from apps.deploys.replays import rollback


class Command(BaseCommand):
    help = "Roll a workload back to an earlier successful deploy (default: the previous one)."

    def add_arguments(self, parser):
        parser.add_argument("workload", help="workload name or id")
        parser.add_argument("--to", type=int, dest="deploy_id", help="the deploy id to replay")
        parser.add_argument("--restore-config", action="store_true",
                            help="also restore that deploy's spec and env")
        parser.add_argument("--with-data", action="store_true",
                            help="also restore the volume backup taken before the running deploy")

    def handle(self, *args, **options):
        workload = find_workload(options["workload"])
        target = None
        if options["deploy_id"]:
            target = Deploy.objects.filter(pk=options["deploy_id"]).first()
            if target is None:
                raise CommandError(_("No deploy #%(id)s.") % {"id": options["deploy_id"]})
        started = time.monotonic()
        try:
            with console_logs_to_file():
                deploy = rollback(workload, target=target, enqueue=False,
                                  restore_config=options["restore_config"],
                                  with_data=options["with_data"], progress=self.stdout.write)
        except Conflict as exc:
            raise CommandError(exc.message) from None
        took = seconds(time.monotonic() - started)
        if deploy.status != Status.SUCCEEDED:
            raise CommandError(failure_summary(
                deploy, _("Rollback #%(id)s failed after %(took)s: %(code)s — %(message)s"),
                took))
        self.stdout.write(_("Rolled back to deploy #%(target)s in %(took)s: running %(ref)s.")
                          % {"target": deploy.rollback_of_id, "took": took,
                             "ref": deploy.pinned_ref})
