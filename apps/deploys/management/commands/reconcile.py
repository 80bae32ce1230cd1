from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from apps.deploys.reconcile import reconcile_all


class Command(BaseCommand):
    help = "Bring the container index and the deploy ledger in line with the engine."

    def handle(self, *args, **options):
        result = reconcile_all()
        self.stdout.write(_("Reconciled: workloads drifted: %(drifted)s, deploys "
                            "interrupted: %(interrupted)s, recovered: %(recovered)s, ledger "
                            "corrections: %(corrected)s, engine: %(engine)s.") % result)
