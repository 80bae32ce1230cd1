"""The git source: build a repository's Dockerfile at a branch or tag and run it."""
from pathlib import PurePosixPath

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from pydantic import Field

from apps.workloads import engine, gitrepo
from apps.workloads.engine import EngineError
from apps.workloads.sources import runner
from apps.workloads.sources.base import Pinned, SpecError, workload_labels
from apps.workloads.sources.options import RunOptions
from apps.workloads.sources.single import SingleContainerSource
from apps.workloads.workdirs import workdir

FIELDS = {"repo", "ref", "dockerfile", "context", "build_args"} | runner.RUN_FIELDS


class GitSpec(RunOptions):
    repo: str = Field(title=gettext_noop("Repository"), description=gettext_noop(
        "An https, ssh or file URL, or an absolute path on this machine."))
    ref: str = Field("main", title=gettext_noop("Branch or tag"), description=gettext_noop(
        "What a deploy builds: the newest commit of this branch or tag."))
    dockerfile: str = Field("Dockerfile", title=gettext_noop("Dockerfile"), description=(
        gettext_noop("Its path relative to the build context.")))
    context: str = Field(".", title=gettext_noop("Build context"), description=gettext_noop(
        "A directory inside the repository."))
    build_args: dict[str, str] = Field({}, title=gettext_noop("Build arguments"), description=(
        gettext_noop("One KEY=VALUE per line.")), json_schema_extra={"x-form": "pairs"})


class GitSource(SingleContainerSource):
    kind = "git"
    label = gettext_lazy("Git repository with a Dockerfile")
    spec_model = GitSpec
    schema_sample = {
        "repo": "https://git.example.com/team/web.git",
        "ref": "main",
        "dockerfile": "Dockerfile",
        "context": ".",
        "build_args": {"VERSION": "1"},
        "ports": ["127.0.0.1:8080:8080"],
    }

    def validate(self, spec):
        if not isinstance(spec, dict):
            raise SpecError({"spec": _("The spec must be a JSON object.")})
        spec = dict(spec)
        errors = {key: _("Unknown field.") for key in spec if key not in FIELDS}
        repo = spec.get("repo")
        if not isinstance(repo, str) or not repo.strip():
            errors["repo"] = _("This field is required.")
        elif not repo.startswith(("https://", "http://", "ssh://", "git@", "/", "file://")):
            errors["repo"] = _("Use an https, ssh or file URL, or an absolute path.")
        for key, default in (("ref", "main"), ("dockerfile", "Dockerfile"), ("context", ".")):
            value = spec.setdefault(key, default)
            if not isinstance(value, str) or not value or _escapes(value):
                errors[key] = _("Give a relative path or name inside the repository.")
        args = spec.setdefault("build_args", {})
        if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
            errors["build_args"] = _("Build args must be an object of strings.")
        runner.validate_run_options(spec, errors)
        if errors:
            raise SpecError(errors)
        return spec

    def resolve(self, ctx):
        commit, image = self._image(ctx)
        return image.id, Pinned(ref=commit, detail={
            "commit": commit, "image_id": image.id, "repo": ctx.spec["repo"],
        })

    def running_line(self, pinned, container_id):
        return _("Running %(commit)s in container %(id)s.") % {
            "commit": pinned.ref[:12], "id": container_id[:12]
        }

    def _image(self, ctx):
        """(commit, ImageInfo) to deploy: a replayed commit reuses its image when present."""
        checkout = workdir(ctx.workload) / "repo"
        commit = ctx.pinned["commit"] if ctx.pinned else None
        if commit:
            present = engine.inspect_image(ctx.pinned.get("image_id", ""))
            if present is not None:
                ctx.log(_("Reusing the image built for %(commit)s.") % {"commit": commit[:12]})
                return commit, present
        ctx.log(_("Fetching %(repo)s.") % {"repo": ctx.spec["repo"]})
        gitrepo.fetch(ctx.spec["repo"], checkout)
        commit = commit or gitrepo.resolve(checkout, ctx.spec["ref"])
        gitrepo.checkout(checkout, commit)
        ctx.log(_("Building %(commit)s.") % {"commit": commit[:12]})
        image = engine.build_image(
            path=checkout / ctx.spec["context"],
            dockerfile=ctx.spec["dockerfile"],  # relative to the build context
            tag=f"tinyforge/{ctx.workload.engine_key}:{commit[:12]}",
            labels={**workload_labels(ctx.workload), "tinyforge.commit": commit},
            buildargs=ctx.spec.get("build_args"),
            log=ctx.log,
        )
        return commit, image

    def available(self, workload, pinned, registry_auth=None):
        """The built image is present, or the commit is still in the checkout to rebuild."""
        try:
            if engine.inspect_image(pinned.get("image_id", "")) is not None:
                return True
            return gitrepo.has_commit(workdir(workload) / "repo", pinned.get("commit", ""))
        except EngineError:
            return False


def _escapes(path):
    parts = PurePosixPath(path).parts
    return path.startswith("/") or ".." in parts
