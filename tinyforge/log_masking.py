"""A logging filter that masks known secret values in error records and their tracebacks.

Only records at ERROR and above, or with a traceback, are rewritten: those are where engine
output, SQL parameters or exception messages can carry a password. Info lines written by
TinyForge itself are masked where they are made (apps.workloads.events)."""
import logging
import traceback

from apps.core.crypto import MASK, mask, registered_secret_values


class MaskSecrets(logging.Filter):
    def filter(self, record):
        if record.levelno < logging.ERROR and not record.exc_info:
            return True
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        try:
            secrets = registered_secret_values()
        except Exception:  # noqa: BLE001 - no database (or it is what failed): say less
            secrets = None
        if secrets is None:
            kind = record.exc_info[0].__name__ if record.exc_info else "error"
            text = f"{kind}: details withheld {MASK} (secrets could not be read to mask them)"
        else:
            text = mask(text, secrets)
        record.msg, record.args = text, None
        record.exc_info, record.exc_text = None, None
        return True
