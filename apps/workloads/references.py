"""Image references, parsed the way the Docker engine reads them."""
import re
from dataclasses import dataclass

_REF_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._:/-][a-zA-Z0-9]+|[._-]{1,2}[a-z0-9]+|/[a-z0-9]+)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


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
    ref = (ref or "").strip()
    digest = ""
    if "@" in ref:
        ref, _, digest = ref.partition("@")
        if not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
            raise ValueError("bad digest")
    tag = ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, _, tag = ref.rpartition(":")
    if not ref or not _REF_RE.match(ref) or (tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag)):
        raise ValueError("bad reference")
    first = ref.split("/", 1)[0]
    has_registry = "/" in ref and ("." in first or ":" in first or first == "localhost")
    registry = first if has_registry else "docker.io"
    return Reference(registry=registry, repository=ref, tag=tag or "latest", digest=digest)
