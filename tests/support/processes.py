"""Watching a process tree from the outside through /proc (no psutil), for the serve tests."""
import os
import time
from pathlib import Path


def _stat(pid):
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return {"state": fields[0], "ppid": int(fields[1]), "session": int(fields[3])}


def children(pid):
    """Live direct children of ``pid``."""
    return {child for child, info in live().items() if info["ppid"] == pid}


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def live():
    """{pid: stat} of every process that is not a zombie."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _stat(int(name))
            if info is not None and info["state"] not in ("Z", "X"):
                table[int(name)] = info
    return table


def family(root):
    """``root`` and all its live descendants, plus every live member of their sessions (a
    grandchild whose parent died is re-parented, but keeps its session)."""
    table = live()
    members = {root} & set(table)
    grew = True
    while grew:
        more = {pid for pid, info in table.items() if info["ppid"] in members} - members
        members |= more
        grew = bool(more)
    sessions = {table[pid]["session"] for pid in members} - {table.get(root, {}).get("session")}
    return members | {pid for pid, info in table.items() if info["session"] in sessions}


def still_alive(pids, sessions=()):
    table, sessions = live(), set(sessions)
    return {pid for pid in pids if pid in table} | {
        pid for pid, info in table.items() if info["session"] in sessions}


def wait_until(predicate, deadline_s, interval=0.1):
    """Poll ``predicate`` until it returns something truthy (returned) or the deadline passes
    (returns the last falsy value)."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)
