from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.metrics import queries
from apps.workloads.models import Workload

MIB = 1024 * 1024


def find_workload(name_or_id):
    workload = Workload.objects.filter(name=name_or_id).first()
    if workload is None and name_or_id.isdigit():
        workload = Workload.objects.filter(pk=int(name_or_id)).first()
    if workload is None:
        raise CommandError(_("No workload named %(name)s.") % {"name": name_or_id})
    return workload


def mib(value):
    return f"{value / MIB:.1f}"


def limit_mib(value):
    return mib(value) if value else "—"  # 0 means no limit


class Command(BaseCommand):
    help = "Print a workload's CPU and memory over a window as a compact table."

    def add_arguments(self, parser):
        parser.add_argument("workload", help="workload name (or id)")
        parser.add_argument("--window", default="2h", choices=list(queries.WINDOWS))

    def handle(self, *args, workload, window, **options):
        found = find_workload(workload)
        points = queries.workload_series(found.pk, window)
        if not points:
            self.stdout.write(_("%(name)s: no samples in the last %(window)s.") % {
                "name": found.name, "window": window
            })
            return
        self.stdout.write(ngettext("%(name)s, last %(window)s, %(count)s point",
                                   "%(name)s, last %(window)s, %(count)s points", len(points))
                          % {"name": found.name, "window": window, "count": len(points)})
        header = (_("time"), _("CPU %"), _("memory MiB"), _("limit MiB"))
        self.stdout.write(f"{header[0]:<16}  {header[1]:>7}  {header[2]:>10}  {header[3]:>9}")
        for point in points:
            moment = timezone.localtime(datetime.fromtimestamp(point["ts"], tz=UTC))
            self.stdout.write(
                f"{moment:%Y-%m-%d %H:%M}  {point['cpu_percent']:>7.1f}  "
                f"{mib(point['memory_usage']):>10}  {limit_mib(point['memory_limit']):>9}"
            )
