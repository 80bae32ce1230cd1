import os
import signal
import subprocess
import sys

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = "Run the web server and the django-q2 task cluster together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("TINYFORGE_BIND", "127.0.0.1:8000"))

    def handle(self, *args, **options):
        recover_at_start(self.stdout)
        python = sys.executable
        web = subprocess.Popen([
            python, "-m", "gunicorn", "tinyforge.wsgi:application", "--bind", options["bind"],
            "--workers", "2", "--threads", "4", "--access-logfile", "-",
        ])
        # qcluster must get SIGTERM on its main pid only (a group-wide signal can hang it),
        # so it runs in its own session and is stopped explicitly below.
        cluster = subprocess.Popen([python, "manage.py", "qcluster"], start_new_session=True)
        self.stdout.write(_("TinyForge is up at http://%(bind)s/admin/ (Ctrl-C stops it).")
                          % {"bind": options["bind"]})
        signal.signal(signal.SIGTERM, lambda *_args: web.send_signal(signal.SIGINT))
        try:
            web.wait()
        except KeyboardInterrupt:
            web.wait()
        finally:
            cluster.send_signal(signal.SIGTERM)
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cluster.kill()
        self.stdout.write(_("Stopped."))


def recover_at_start(out):
    """Before anything runs: the reconcile pass undoes deploys a previous run left half-done.
    (By command name: this app imports no other app.) Never stops the start: with the engine
    down, the minute reconcile tick finishes the job."""
    from django.core.management import call_command

    try:
        call_command("reconcile", stdout=out)
    except Exception as exc:  # the web and the cluster must come up regardless
        out.write(_("Recovery at start skipped: %(error)s") % {"error": exc})
