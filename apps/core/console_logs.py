"""Keep a command's own output clean: while it runs, log records that would reach the console
go to a file instead (``TINYFORGE_DATA_DIR/logs/commands.log``).

``manage.py deploy`` prints the deploy's progress; the events and warnings the same code logs
(and django-q2's lines when the cluster runs a task inline) would otherwise interleave with it
on stderr and say the failure a second and third time. Nothing is lost, and nothing changes but
where the lines land: each console handler keeps its level, format and filters (secrets masked,
hook tokens redacted); only its stream is pointed at the file for the duration.
"""
import logging
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings


def command_log_path():
    return Path(settings.DATA_DIR) / "logs" / "commands.log"


def _console_handlers():
    """Every handler writing to a console stream: exactly StreamHandler (its subclasses, such
    as FileHandler or a test's capture handler, write elsewhere), each once."""
    found = {}
    loggers = [logging.getLogger(), *(logger for logger in
                                      logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                found[id(handler)] = handler
    return list(found.values())


@contextmanager
def console_logs_to_file(path=None):
    """Within the block, console log handlers write to ``path``; yields the path."""
    path = Path(path or command_log_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as stream:
        swapped = [(handler, handler.stream) for handler in _console_handlers()]
        for handler, _original in swapped:
            handler.setStream(stream)
        try:
            yield path
        finally:
            for handler, original in swapped:
                handler.setStream(original)
