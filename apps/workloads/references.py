"""Image references, parsed the way the Docker engine reads them."""
import re
from dataclasses import dataclass

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_REGISTRY = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                       r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    registry: str  # "docker.io" when the reference names no registry
    repository: str  # as the engine pulls it, registry host included when one was named
    tag: str
    digest: str

    @property
    def pinned(self):
        """repository@digest when a digest is known, else repository:tag."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def split_reference(ref):
    """Parse ``ref``; raises ValueError when it is not an image reference."""
    name, at, digest = (ref or "").strip().partition("@")
    if at and not _DIGEST.match(digest):
        raise ValueError("bad digest")
    head, slash, last = name.rpartition("/")
    tag = ""
    if ":" in last:
        last, _, tag = last.partition(":")
        if not _TAG.match(tag):
            raise ValueError("bad tag")
    parts = (head.split("/") if slash else []) + [last]
    registry = "docker.io"
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts.pop(0)
        if not _REGISTRY.match(registry):
            raise ValueError("bad registry")
    if not all(_COMPONENT.match(part) for part in parts):
        raise ValueError("bad repository")
    repository = "/".join(([registry] if registry != "docker.io" else []) + parts)
    return Reference(registry=registry, repository=repository, tag=tag or "latest", digest=digest)
