from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.deploys.cleanup import cleanup_images
from apps.workloads.engine import EngineError


class Command(BaseCommand):
    help = "Remove unused TinyForge images, keeping every workload's newest rollback targets."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list what would go")

    def handle(self, *args, **options):
        try:
            removed, kept = cleanup_images(dry_run=options["dry_run"])
        except EngineError as exc:
            raise CommandError(_("The Docker engine could not do this (%(code)s).")
                               % {"code": exc.code}) from None
        for image in removed:
            self.stdout.write(image)
        self.stdout.write(_("Images removed: %(removed)s, kept: %(kept)s.")
                          % {"removed": len(removed), "kept": len(kept)})
