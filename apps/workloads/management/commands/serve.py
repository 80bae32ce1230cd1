import os
import signal
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.workloads import embedded_proxy, supervisor

# gunicorn finishes requests in flight for this long after SIGTERM; it must be shorter than
# the grace below, so a slow request ends by itself rather than by SIGKILL.
WEB_GRACEFUL_TIMEOUT = 4
# CPU priority of the stats sampler below the web server and the task cluster.
SAMPLER_NICE = 5


class Command(BaseCommand):
    help = ("Run the web server, the django-q2 task cluster, the stats sampler and (unless one "
            "answers already) Caddy together; one Ctrl-C or SIGTERM stops every process they "
            "started within 10 seconds.")

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("TINYFORGE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--grace", type=float, default=6.0,
                            help="seconds the processes get to stop before they are killed")

    def handle(self, *args, **options):
        self.signals = []
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        children = supervisor.Supervisor()
        # The proxy first: the recovery's reconcile pass pushes routes to it.
        proxy_up = embedded_proxy.ensure_caddy(children, self.stdout)
        recover_at_start(self.stdout)
        if proxy_up:
            embedded_proxy.publish_routes(self.stdout)
        supervisor.clear_stop()
        python = sys.executable
        children.start("web", [
            python, "-m", "gunicorn", "tinyforge.wsgi:application", "--bind", options["bind"],
            "--workers", "2", "--threads", "4", "--access-logfile", "-",
            # a hook URL's path is its credential: the access log shows it redacted
            "--logger-class", "tinyforge.gunicorn_logging.HookRedactingLogger",
            "--graceful-timeout", str(WEB_GRACEFUL_TIMEOUT),
            # Per install: the default (~/.gunicorn/gunicorn.ctl) is shared by every install on
            # the host, and each one deleted the other's when it stopped.
            "--control-socket", str(supervisor.run_dir() / "gunicorn.ctl"),
            # X-Forwarded-Proto sets the scheme only when the proxy sent it (never for another
            # client: Django does not read that header itself, see tinyforge.proxy_settings).
            "--forwarded-allow-ips", ",".join(settings.TINYFORGE_TRUSTED_PROXIES),
        ])
        manage = str(settings.BASE_DIR / "manage.py")
        children.start("cluster", [python, manage, "qcluster"])
        # Sampling runs all the time: in a process of its own it never holds a task worker, so
        # all TINYFORGE_WORKERS are there for deploys.
        # Niced: a sample may come a moment late when the cores are busy, an API answer should
        # not wait for a sample.
        children.start("sampler", [python, manage, "sample_stats", "--forever"],
                       nice=SAMPLER_NICE)
        self.stdout.write(_("TinyForge is up at http://%(bind)s/admin/ (Ctrl-C stops it).")
                          % {"bind": options["bind"]})
        if settings.TINYFORGE_PUBLIC_URL:
            self.stdout.write(_("Public URL (through the proxy): %(url)s/admin/")
                              % {"url": settings.TINYFORGE_PUBLIC_URL})
        failed = None
        while not self.signals:
            failed = children.exited()
            if failed:
                break
            time.sleep(0.2)
        if failed:
            self.stderr.write(_("The %(name)s process exited with code %(code)s; stopping the "
                                "rest.") % {"name": failed[0], "code": failed[1]})
        else:
            self.stdout.write(_("Stopping (Ctrl-C again to stop at once)…"))
        supervisor.request_stop()
        try:
            killed = children.stop(options["grace"], hurry=lambda: len(self.signals) > 1)
        finally:
            supervisor.clear_stop()
        if killed:
            self.stdout.write(ngettext(
                "Killed %(count)s process that did not stop in time.",
                "Killed %(count)s processes that did not stop in time.", killed)
                % {"count": killed})
        self.stdout.write(_("Stopped."))
        if failed:
            sys.exit(1)

    def _on_signal(self, signum, frame):
        # Only record it: the main loop does the stopping, so a second Ctrl-C while stopping
        # never lands in the middle of it as a KeyboardInterrupt.
        self.signals.append(signum)


def recover_at_start(out):
    """Before anything runs: the reconcile pass undoes deploys a previous run left half-done.
    (By command name: this app imports no other app.) Never stops the start: with the engine
    down, the minute reconcile tick finishes the job."""
    from django.core.management import call_command

    try:
        call_command("reconcile", stdout=out)
    except Exception as exc:  # the web and the cluster must come up regardless
        out.write(_("Recovery at start skipped: %(error)s") % {"error": exc})
