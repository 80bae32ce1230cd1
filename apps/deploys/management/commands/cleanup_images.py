from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.deploys.cleanup import cleanup_images
from apps.workloads import hosts
from apps.workloads.engine import EngineError
from apps.workloads.models import Host


class Command(BaseCommand):
    help = ("Remove unused TinyForge images, keeping every workload's newest rollback targets "
            "(on the local engine, or on --host NAME).")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list what would go")
        parser.add_argument("--host", default="", help="the host to clean (default: local)")

    def handle(self, *args, **options):
        host = (Host.objects.filter(name=options["host"]).first() if options["host"]
                else hosts.local_host())
        if host is None:
            raise CommandError(_("There is no host named %(name)s.") % {"name": options["host"]})
        try:
            with hosts.on_host(host):
                removed, kept = cleanup_images(dry_run=options["dry_run"], host=host)
        except EngineError as exc:
            raise CommandError(_("The Docker engine could not do this (%(code)s).")
                               % {"code": exc.code}) from None
        for image in removed:
            self.stdout.write(image)
        self.stdout.write(_("Images removed: %(removed)s, kept: %(kept)s.")
                          % {"removed": len(removed), "kept": len(kept)})
