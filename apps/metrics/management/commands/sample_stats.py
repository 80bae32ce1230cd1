import signal
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.metrics import ticker
from apps.metrics.sampler import FleetSampler


class Command(BaseCommand):
    help = ("Sample every running container and the host at N aligned ticks, in the foreground "
            "(takes over from the standing sampler meanwhile); or, with --forever, be the "
            "standing sampler that `serve` runs.")

    def add_arguments(self, parser):
        parser.add_argument("--ticks", type=int, default=1, help="how many ticks to sample")
        parser.add_argument("--forever", action="store_true",
                            help="sample every tick until SIGTERM or Ctrl-C (what serve runs)")

    def handle(self, *args, ticks, forever, **options):
        if ticks < 1:
            raise CommandError(_("--ticks must be at least 1."))
        interval = settings.TINYFORGE_STATS_INTERVAL
        if forever:
            return self.sample_until_stopped(interval, options["verbosity"])
        self.stdout.write(ngettext("Sampling %(ticks)s tick, every %(interval)s s.",
                                   "Sampling %(ticks)s ticks, every %(interval)s s.", ticks) % {
            "ticks": ticks, "interval": interval
        })
        done = ticker.run_sampler(FleetSampler, ticks=ticks, on_tick=self.report)
        if len(done) < ticks:
            raise CommandError(_("Another sampler kept the lease; sampled %(done)s of %(ticks)s.")
                               % {"done": len(done), "ticks": ticks})

    def sample_until_stopped(self, interval, verbosity):
        signals = []
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            # Only note it: the loop ends within one poll and releases the lease on its way out.
            previous[signum] = signal.signal(signum, lambda signum, frame: signals.append(signum))
        self.stdout.write(_("Sampling every %(interval)s s until stopped.") % {
            "interval": interval})
        try:
            ticker.sample_forever(FleetSampler, stop=lambda: bool(signals),
                                  on_tick=self.report if verbosity > 1 else None)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(_("Sampler stopped."))

    def report(self, tick, stored):
        moment = timezone.localtime(datetime.fromtimestamp(tick, tz=UTC))
        self.stdout.write(ngettext("%(time)s: %(count)s container stored.",
                                   "%(time)s: %(count)s containers stored.", stored) % {
            "time": moment.strftime("%Y-%m-%d %H:%M:%S"), "count": stored
        })
