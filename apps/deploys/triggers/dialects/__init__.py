"""The webhook dialects: one module per kind of sender, one registry, filled at app ready.

``detect(headers)`` returns the first registered dialect that recognises a request; the order
matters because senders imitate each other (Gitea also sends GitHub's headers; anything signed
the GitHub way without naming another dialect is read as GitHub). See ``base`` for the contract
and ``apps.deploys.bindings.receive_webhook`` for the one decision about what deploys."""
from apps.deploys.triggers.dialects.base import Delivery, Dialect, HookEvent

DIALECTS: dict[str, Dialect] = {}


def register(dialect):
    DIALECTS[dialect.name] = dialect
    return dialect


def load():
    """Fill the registry (idempotent); called from ``DeploysConfig.ready``."""
    from apps.deploys.triggers.dialects.gitea import Gitea
    from apps.deploys.triggers.dialects.github import GitHub
    from apps.deploys.triggers.dialects.gitlab import GitLab
    from apps.deploys.triggers.dialects.registry import Registry

    for dialect in (GitLab(), Gitea(), Registry(), GitHub()):
        if dialect.name not in DIALECTS:
            register(dialect)


def detect(headers):
    """The dialect of a request, or None when no registered one recognises it."""
    return next((d for d in DIALECTS.values() if d.detect(headers)), None)


__all__ = ["DIALECTS", "Delivery", "Dialect", "HookEvent", "detect", "load", "register"]
