"""The engine's failures as the rest of TinyForge sees them: a code from one fixed list.

``CODES`` is the single source of the failure vocabulary: the ledger's messages
(``apps.deploys.models.ERROR_MESSAGES``) are built from it, and a test checks that every code
raised anywhere is in it. Parsing helpers here keep only facts that cannot carry a secret.
"""
import re

# Every code a failed deploy can be recorded with. Most are raised as EngineError by this
# package; "timeout" is recorded by the deploy runner itself (the lock never came free) and is
# listed here so that the vocabulary stays one list.
CODES = (
    "pull_failed",
    "auth_failed",
    "build_failed",
    "start_failed",
    "health_failed",
    "proxy_failed",
    "timeout",
    "engine_down",
    "host_down",
    "internal",
)


class EngineError(Exception):
    """An engine operation failed; ``code`` is one of ``CODES``.

    ``message`` is the raw engine text (log only: it may echo a secret). ``detail`` holds facts
    parsed out of it that cannot carry one (an exit code, a port number, an image reference we
    asked for), for the ledger: see ``apps.deploys.failures``.
    """

    def __init__(self, code, message, detail=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = dict(detail or {})


class EngineDown(EngineError):
    def __init__(self, message="Docker engine unreachable"):
        super().__init__("engine_down", message)


# What the engine says when a host port cannot be published: "Bind for 0.0.0.0:8080 failed:
# port is already allocated" or "listen tcp4 127.0.0.1:8080: bind: address already in use".
# Only the port number is kept from such a text.
_PORT_TAKEN_RES = (
    re.compile(r"Bind for [0-9a-fA-F.:\[\]]*:(\d{1,5}) failed: port is already allocated"),
    re.compile(
        r"listen (?:tcp|udp)[46]? [0-9a-fA-F.:\[\]]*:(\d{1,5}): bind: address already in use"),
)


def port_in_use(text):
    """The host port an engine error says is already taken, or None."""
    for pattern in _PORT_TAKEN_RES:
        match = pattern.search(text or "")
        if match and 1 <= int(match.group(1)) <= 65535:
            return int(match.group(1))
    return None


def missing_manifest(text):
    """True when a registry answered that it has no manifest for what was asked."""
    lowered = (text or "").lower()
    return "manifest unknown" in lowered or (
        "manifest for" in lowered and "not found" in lowered)
