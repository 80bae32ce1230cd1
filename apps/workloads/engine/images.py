"""Images: pull, build, inspect, list, remove, and what a registry serves for a reference."""
from dataclasses import dataclass, field

from docker.errors import ImageNotFound

from apps.workloads.engine.client import get_client, translate_errors
from apps.workloads.engine.errors import EngineError


@dataclass
class ImageInfo:
    id: str
    repo_digests: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)

    def digest_for(self, repository):
        """The registry digest ("sha256:…") this image has in ``repository``, or ""."""
        for item in self.repo_digests:
            repo, _, digest = item.partition("@")
            if repo == repository:
                return digest
        return ""


def _image_info(image):
    attrs = image.attrs
    return ImageInfo(
        id=image.id,
        repo_digests=list(attrs.get("RepoDigests") or []),
        tags=list(attrs.get("RepoTags") or []),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
    )


def pull(repository, tag, auth=None):
    """Pull ``repository:tag`` (or ``repository@sha256:…`` when tag is a digest); returns ImageInfo.

    Raises EngineError("auth_failed" | "pull_failed" | "engine_down").
    """
    separator = "@" if str(tag).startswith("sha256:") else ":"
    with translate_errors("pull_failed", missing=f"{repository}{separator}{tag}"):
        image = get_client().images.pull(repository, tag=tag, auth_config=auth or None)
        return _image_info(image)


def inspect_image(ref):
    """ImageInfo for a local image reference or id, or None when it is not present."""
    with translate_errors("internal"):
        try:
            return _image_info(get_client().images.get(ref))
        except ImageNotFound:
            return None


def remove_image(ref, force=False):
    """Remove a local image; False when it was not there."""
    with translate_errors("internal"):
        try:
            get_client().images.remove(ref, force=force)
            return True
        except ImageNotFound:
            return False


def build_image(*, path, dockerfile, tag, labels, buildargs, log):
    """Build ``path`` with the classic builder, streaming output lines to ``log``.

    Returns ImageInfo of the built image. Raises EngineError("build_failed" | "engine_down").
    """
    with translate_errors("build_failed"):
        stream = get_client().api.build(
            path=str(path), dockerfile=dockerfile, tag=tag, labels=labels,
            buildargs=buildargs or None, rm=True, forcerm=True, decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise EngineError("build_failed", chunk["error"].strip())
            text = (chunk.get("stream") or "").rstrip()
            if text:
                log(text)
        return _image_info(get_client().images.get(tag))


def registry_digest(reference, auth=None):
    """The digest a registry serves for ``reference`` now, without pulling. Raises EngineError."""
    with translate_errors("pull_failed"):
        return get_client().images.get_registry_data(reference, auth_config=auth or None).id


def list_images(labels):
    """Local images carrying every label in ``labels`` ({key: value})."""
    filters = [f"{k}={v}" for k, v in labels.items()]
    with translate_errors("internal"):
        return [_image_info(image) for image in get_client().images.list(
            filters={"label": filters})]


def images_in_use():
    """Image ids used by any container on the engine, whatever its state.

    One list call: inspecting each container as well would fail the whole answer whenever
    someone else removes a container between the list and its inspect."""
    with translate_errors("internal"):
        return {item.get("ImageID", "") for item in get_client().api.containers(all=True)}
