"""The source registry: one entry per kind of workload. It also feeds ``Workload.kind`` choices."""
from django.utils.translation import gettext_lazy as _

from apps.workloads.sources.base import DeployContext, Pinned, Source, SpecError
from apps.workloads.sources.compose import ComposeSource
from apps.workloads.sources.git import GitSource
from apps.workloads.sources.image import ImageSource

SOURCES = {source.kind: source for source in (ImageSource(), ComposeSource(), GitSource())}


class UnknownSource(LookupError):
    pass


def get_source(kind):
    """The Source for ``kind``; raises UnknownSource with a readable message."""
    try:
        return SOURCES[kind]
    except KeyError:
        raise UnknownSource(
            _("Unknown source kind '%(kind)s'. Known kinds: %(known)s.")
            % {"kind": kind, "known": ", ".join(sorted(SOURCES))}
        ) from None


def source_choices():
    return [(kind, source.label) for kind, source in SOURCES.items()]


__all__ = [
    "SOURCES",
    "DeployContext",
    "Pinned",
    "Source",
    "SpecError",
    "UnknownSource",
    "get_source",
    "source_choices",
]
