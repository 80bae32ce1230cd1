from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.metrics import ticker
from apps.metrics.sampler import Sampler


class Command(BaseCommand):
    help = ("Sample every running container and the host at N aligned ticks, in the foreground "
            "(takes over from the task cluster's sampler meanwhile).")

    def add_arguments(self, parser):
        parser.add_argument("--ticks", type=int, default=1, help="how many ticks to sample")

    def handle(self, *args, ticks, **options):
        if ticks < 1:
            raise CommandError(_("--ticks must be at least 1."))
        interval = settings.TINYFORGE_STATS_INTERVAL
        self.stdout.write(_("Sampling %(ticks)s tick(s), every %(interval)s s.") % {
            "ticks": ticks, "interval": interval
        })
        done = ticker.run_sampler(Sampler, ticks=ticks, on_tick=self.report)
        if len(done) < ticks:
            raise CommandError(_("Another sampler kept the lease; sampled %(done)s of %(ticks)s.")
                               % {"done": len(done), "ticks": ticks})

    def report(self, tick, stored):
        moment = timezone.localtime(datetime.fromtimestamp(tick, tz=UTC))
        self.stdout.write(_("%(time)s: %(count)s container(s) stored.") % {
            "time": moment.strftime("%Y-%m-%d %H:%M:%S"), "count": stored
        })
