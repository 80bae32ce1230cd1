"""Hook URLs carry their token: no log line may show it (only its SHA-256 is stored).

Kept free of Django so the gunicorn access logger (tinyforge.gunicorn_logging) can use it too.
Django's request logger writes "Unauthorized: /api/hooks/<token>" for every refused call, and
gunicorn's access log writes the request line, so both pass through ``RedactHookTokens``."""
import logging
import re

# A path segment after /hooks/ (and whatever follows it in that segment), in any log text.
HOOK_TOKEN = re.compile(r"(/hooks/)[^/?#\s\"'\\]+")
REDACTED = "[redacted]"


def redact_hook_tokens(text):
    return HOOK_TOKEN.sub(r"\g<1>" + REDACTED, text)


def _redact(value):
    return redact_hook_tokens(value) if isinstance(value, str) else value


class RedactHookTokens(logging.Filter):
    """Rewrites the message and its arguments in place; never drops a record."""

    def filter(self, record):
        record.msg = _redact(record.msg)
        if isinstance(record.args, dict):
            # gunicorn's access log: a dict of atoms (a dict subclass, so update in place)
            for key, value in list(record.args.items()):
                record.args[key] = _redact(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact(value) for value in record.args)
        return True


def install(logger_names=("django.request", "django.server", "django.security")):
    """Filters on the loggers Django writes request paths to (records logged there directly;
    handler filters in settings.LOGGING cover TinyForge's own loggers)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactHookTokens) for f in logger.filters):
            logger.addFilter(RedactHookTokens())
