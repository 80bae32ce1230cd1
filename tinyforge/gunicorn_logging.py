"""gunicorn's logger with hook tokens redacted from the access and error logs.

Used by ``manage.py serve`` (``--logger-class tinyforge.gunicorn_logging.HookRedactingLogger``):
the access log writes each request line, and a hook's path is its credential."""
from gunicorn.glogging import Logger

from apps.deploys.hook_redaction import RedactHookTokens


class HookRedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactHookTokens) for f in log.filters):
                log.addFilter(RedactHookTokens())
