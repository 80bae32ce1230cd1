import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import formats
from django.utils.translation import gettext as _

from apps.core.console_logs import console_logs_to_file
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Reason, Status
from apps.workloads.models import Workload


class Command(BaseCommand):
    help = "Deploy a workload now, printing progress; exits non-zero when the deploy fails."

    def add_arguments(self, parser):
        parser.add_argument("workload", help="workload name or id")

    def handle(self, *args, **options):
        workload = find_workload(options["workload"])
        started = time.monotonic()
        # Progress is the deploy's own log; the log records of the same code go to a file.
        with console_logs_to_file():
            deploy = dispatch(workload, Reason.CLI, progress=self.stdout.write)
        took = seconds(time.monotonic() - started)
        if deploy.status == Status.CANCELLED:
            raise CommandError(_("Deploy #%(id)s was cancelled: its workload was deleted or "
                                 "the deploy withdrawn.") % {"id": deploy.pk})
        if deploy.status == Status.INTERRUPTED:
            raise CommandError(_("Deploy #%(id)s was interrupted; restored: %(restored)s.") % {
                "id": deploy.pk,
                "restored": deploy.get_restored_display() if deploy.restored else
                _("pending (the next reconcile pass finishes it)")})
        if deploy.status != Status.SUCCEEDED:
            raise CommandError(failure_summary(
                deploy, _("Deploy #%(id)s failed after %(took)s: %(code)s — %(message)s"),
                took))
        self.stdout.write(_("Deploy #%(id)s succeeded in %(took)s: running %(ref)s.") % {
            "id": deploy.pk, "took": took, "ref": deploy.pinned_ref})


def seconds(value):
    """A duration for a summary line, with the active language's decimal separator."""
    return _("%(seconds)s s") % {"seconds": formats.number_format(round(value, 1), 1)}


def failure_summary(deploy, template, took=""):
    """The fixed message for the error code, then the failure's detail sentence if any: the
    cause, once (the progress above leaves the outcome line to this)."""
    summary = template % {"id": deploy.pk, "code": deploy.error_code, "took": took,
                          "message": deploy.error_message}
    explanation = deploy.error_explanation
    return f"{summary} {explanation}" if explanation else summary


def find_workload(name_or_id):
    """A workload by name, or by id when the argument is a number; CommandError if unknown."""
    query = Workload.objects.filter(name=name_or_id)
    if not query.exists() and name_or_id.isdigit():
        query = Workload.objects.filter(pk=int(name_or_id))
    workload = query.first()
    if workload is None:
        raise CommandError(_("No workload named '%(name)s'.") % {"name": name_or_id})
    return workload
