from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.models import Backup
from apps.workloads.engine import EngineError


class Command(BaseCommand):
    help = "Restore a pre-deploy backup: stop the workload, put the volumes back, start it."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)

    def handle(self, *args, **options):
        backup = Backup.objects.select_related("workload").filter(pk=options["backup_id"]).first()
        if backup is None:
            raise CommandError(_("No backup #%(id)s.") % {"id": options["backup_id"]})
        try:
            restore_backup(backup)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        except EngineError as exc:
            raise CommandError(_("The Docker engine could not do this (%(code)s).")
                               % {"code": exc.code}) from None
        self.stdout.write(_("Restored backup #%(id)s of %(name)s.")
                          % {"id": backup.pk, "name": backup.workload.name})
