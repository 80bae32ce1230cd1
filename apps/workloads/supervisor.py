"""Start the processes ``manage.py serve`` runs and stop every one of them within a bound.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches ``serve`` only and
``serve`` decides the order: the task cluster must get SIGTERM on its main pid alone (a
group-wide signal can hang django-q2). Whatever is left of a child's session after the grace
period (cluster workers busy with a long task, a deploy's helper processes) is killed. The
session id survives re-parenting, so a grandchild whose parent already died is still found.

While ``serve`` stops, a stop flag file under the data directory names its pid: long-running
work (the metrics sampler, also tasks) polls it and ends early instead of holding the stop up.
"""
import ctypes
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger("tinyforge.serve")

POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1


def run_dir():
    """Per-install runtime files (stop flag, gunicorn control socket)."""
    path = Path(settings.DATA_DIR) / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stop_flag():
    return run_dir() / "stopping"


def request_stop():
    _stop_flag().write_text(str(os.getpid()))


def clear_stop():
    _stop_flag().unlink(missing_ok=True)


def stop_requested():
    """True while a live ``serve`` of this install is stopping (a flag left by a ``serve`` that
    was killed outright names a dead pid and is ignored)."""
    try:
        pid = int(_stop_flag().read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid > 0 and _alive(pid)


def _alive(pid):
    state = _stat(pid)
    return state is not None and state["state"] not in ("Z", "X")


def _stat(pid):
    """{"state", "ppid", "session"} from /proc/<pid>/stat, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields = raw[raw.rindex(")") + 2:].split()
    return {"state": fields[0], "ppid": int(fields[1]), "session": int(fields[3])}


def live_processes():
    """{pid: stat} of every process that is not a zombie."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            state = _stat(int(entry.name))
            if state is not None and state["state"] not in ("Z", "X"):
                found[int(entry.name)] = state
    return found


def tree(roots, sessions=()):
    """Pids of ``roots``, their live descendants and every live member of ``sessions``."""
    table = live_processes()
    sessions = set(sessions)
    members = {pid for pid, info in table.items() if info["session"] in sessions}
    members |= {pid for pid in roots if pid in table}
    grew = True
    while grew:
        children = {pid for pid, info in table.items() if info["ppid"] in members} - members
        members |= children
        grew = bool(children)
    return members


def _die_with_parent():
    """In the child before exec: its own session, and SIGTERM when ``serve`` dies outright."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the session alone still works
        pass


class Supervisor:
    """The children of one ``serve``, started together and stopped together."""

    def __init__(self):
        self.children = {}  # name -> Popen

    def start(self, name, argv, env=None, output=None, nice=0):
        """Start child ``name``. ``output``: an open file for the child's stdout and stderr
        (default: serve's); ``nice`` > 0 lowers its CPU priority (background work that must
        not slow down the web answers when the cores are busy)."""

        def before_exec():
            _die_with_parent()
            if nice:
                os.nice(nice)

        streams = {"stdout": output, "stderr": subprocess.STDOUT} if output else {}
        self.children[name] = subprocess.Popen(argv, preexec_fn=before_exec, env=env,
                                               stdin=subprocess.DEVNULL if output else None,
                                               **streams)
        return self.children[name]

    def forget(self, name, stop=True):
        """Stop supervising ``name`` (after killing its session when ``stop``): serve goes on
        without it."""
        child = self.children.pop(name, None)
        if child is None:
            return
        if stop:
            for pid in tree([child.pid], sessions=[child.pid]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    def exited(self):
        """(name, exit code) of the first child that has exited on its own, else None."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name, child.returncode
        return None

    def members(self):
        pids = [child.pid for child in self.children.values()]
        return tree(pids, sessions=pids)

    def terminate(self):
        """Ask each child's main process (only) to stop."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def wait_gone(self, deadline, hurry=lambda: False):
        """Poll until every process of every child session is gone (True), the ``deadline``
        (monotonic) passes or ``hurry()`` says so (False)."""
        while True:
            for child in self.children.values():
                child.poll()  # reap our direct children so they do not linger as zombies
            if not self.members():
                return True
            if time.monotonic() >= deadline or hurry():
                return False
            time.sleep(POLL_SECONDS)

    def kill_all(self):
        """SIGKILL whatever is left; returns how many processes that was."""
        left = self.members()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(left)

    def stop(self, grace, hurry=lambda: False):
        """SIGTERM to each main pid, then after ``grace`` seconds (or at once when ``hurry()``)
        SIGKILL to everything left. Returns the number of processes that had to be killed."""
        self.terminate()
        if self.wait_gone(time.monotonic() + grace, hurry):
            return 0
        killed = self.kill_all()
        if killed:
            log.warning("serve: %s process(es) did not stop in time and were killed", killed)
        self.wait_gone(time.monotonic() + 2)
        for child in self.children.values():
            try:
                child.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        return killed
