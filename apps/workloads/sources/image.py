"""The image source: run a tagged image from a registry (or a local image) as one container."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from pydantic import Field

from apps.workloads import engine
from apps.workloads.engine import EngineError
from apps.workloads.references import split_reference
from apps.workloads.sources import runner
from apps.workloads.sources.base import Pinned, SpecError, auth_for
from apps.workloads.sources.options import RunOptions
from apps.workloads.sources.single import SingleContainerSource

FIELDS = {"image", "local"} | runner.RUN_FIELDS


class ImageSpec(RunOptions):
    image: str = Field(title=gettext_noop("Image"), description=gettext_noop(
        "A reference such as registry.example.com/team/web:1.4 (a tag or a digest)."))
    local: bool = Field(False, title=gettext_noop("Local image"), description=gettext_noop(
        "Use an image already on the engine instead of pulling it."))


class ImageSource(SingleContainerSource):
    kind = "image"
    label = gettext_lazy("Image from a registry")
    spec_model = ImageSpec
    schema_sample = {
        "image": "127.0.0.1:5000/team/web:live",
        "local": False,
        "command": None,
        "ports": ["127.0.0.1:8080:8080"],
        "restart": "unless-stopped",
        "limits": {"memory": "256m", "cpus": 0.5},
    }

    def validate(self, spec):
        if not isinstance(spec, dict):
            raise SpecError({"spec": _("The spec must be a JSON object.")})
        spec = dict(spec)
        errors = {key: _("Unknown field.") for key in spec if key not in FIELDS}
        image = spec.get("image")
        if not isinstance(image, str) or not image.strip():
            errors["image"] = _("This field is required.")
        else:
            try:
                split_reference(image)
            except ValueError:
                errors["image"] = _("Not a valid image reference.")
        if not isinstance(spec.get("local", False), bool):
            errors["local"] = _("Must be true or false.")
        spec.setdefault("local", False)
        runner.validate_run_options(spec, errors)
        if errors:
            raise SpecError(errors)
        return spec

    def running_line(self, pinned, container_id):
        return _("Running %(ref)s in container %(id)s.") % {
            "ref": pinned.ref[:19], "id": container_id[:12]
        }

    def resolve(self, ctx):
        """Pull (or find) the image; returns (reference to run, Pinned)."""
        if ctx.pinned:
            return self._resolve_pinned(ctx)
        ref = split_reference(ctx.spec["image"])
        if ctx.spec.get("local"):
            info = engine.inspect_image(ctx.spec["image"])
            if info is None:
                raise EngineError("pull_failed", f"local image {ctx.spec['image']} not found",
                                  {"missing": ctx.spec["image"]})
            ctx.log(_("Using local image %(id)s.") % {"id": info.id[:19]})
            return info.id, self._pin(ref, info)
        ctx.log(_("Pulling %(image)s.") % {"image": ctx.spec["image"]})
        info = engine.pull(ref.repository, ref.digest or ref.tag, auth=ctx.auth_for(ref.registry))
        pinned = self._pin(ref, info)
        ctx.log(_("Pulled %(ref)s.") % {"ref": pinned.ref})
        return pinned.detail["image"], pinned

    def _resolve_pinned(self, ctx):
        detail = ctx.pinned
        if engine.inspect_image(detail["image"]) is None and detail.get("digest"):
            ref = split_reference(detail["image"])
            ctx.log(_("Pulling %(image)s.") % {"image": detail["image"]})
            engine.pull(ref.repository, ref.digest, auth=ctx.auth_for(ref.registry))
        if engine.inspect_image(detail["image"]) is None:
            raise EngineError("pull_failed", f"image {detail['image']} is gone",
                              {"missing": detail["image"]})
        pinned = Pinned(ref=detail.get("digest") or detail["image_id"], detail=detail)
        return detail["image"], pinned

    @staticmethod
    def _pin(ref, info):
        digest = ref.digest or info.digest_for(ref.repository)
        image = f"{ref.repository}@{digest}" if digest else info.id
        detail = {"image": image, "image_id": info.id, "digest": digest, "tag": ref.tag}
        return Pinned(ref=digest or info.id, detail=detail)

    def available(self, workload, pinned, registry_auth=None):
        return image_available(pinned, registry_auth)


def image_available(pinned, registry_auth=None):
    """Present locally, or pullable again by its digest (with ``registry_auth``)."""
    image = pinned.get("image", "")
    try:
        if pinned.get("image_id") and engine.inspect_image(pinned["image_id"]) is not None:
            return True
        if not pinned.get("digest") or "@" not in image:
            return False
        engine.registry_digest(image, auth_for(registry_auth, split_reference(image).registry))
        return True
    except (EngineError, ValueError):
        return False

