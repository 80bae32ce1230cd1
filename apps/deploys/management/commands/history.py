from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from apps.deploys.ledger import current_deploy
from apps.deploys.management.commands.deploy import find_workload


class Command(BaseCommand):
    help = "Print a workload's deploy history, newest first; '*' marks what runs now."

    def add_arguments(self, parser):
        parser.add_argument("workload", help="workload name or id")
        parser.add_argument("--limit", type=int, default=30)

    def handle(self, *args, **options):
        workload = find_workload(options["workload"])
        current = current_deploy(workload)
        self.stdout.write(_("   id  status       reason    ref            by        when"))
        for deploy in workload.deploys.select_related("requested_by")[:options["limit"]]:
            mark = "*" if current and deploy.pk == current.pk else " "
            ref = deploy.pinned_ref.split(":")[-1][:12] if deploy.pinned_ref else "-"
            who = deploy.requested_by.get_username() if deploy.requested_by else "-"
            self.stdout.write(
                f"{mark}{deploy.pk:>4}  {deploy.get_status_display():<11}  "
                f"{deploy.get_reason_display():<8}  {ref:<13}  "
                f"{who:<8}  {deploy.created_at:%Y-%m-%d %H:%M}  {deploy.error_code}"
            )
