"""Typed spec schemas: each kind declares its spec as a pydantic model (``Source.spec_model``).

One declaration serves three readers:

- validation: ``typed_errors(model, spec)`` finds what the model refuses (wrong types, unknown
  or missing keys) and ``Source.clean`` adds it to the kind's own checks, which keep their more
  precise messages (an image reference, a port mapping) for the fields they cover;
- the OpenAPI schema of ``spec`` (one variant per kind, ``spec_variants``);
- the admin form (``apps.workloads.spec_form``): a field per option, with the titles and help
  texts given here. ``json_schema_extra={"x-form": ...}`` says how a value is typed in a form:
  "lines" (a list, one item per line), "pairs" (KEY=VALUE lines), "json" (an object edited as
  JSON), "text" (a multi-line text).

Titles and descriptions are marked with ``gettext_noop``: the API shows them in English, the
admin translates them when it renders the form.

The models are strict (no coercion of "80" to 80) and forbid unknown keys, so nothing the
OpenAPI schema rejects is ever accepted.
"""
import copy
from typing import Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Limits(SpecModel):
    memory: int | str | None = Field(None, title=gettext_noop("Memory limit"), description=(
        gettext_noop("Bytes, or a size like 256m or 1g. Empty: no limit.")))
    cpus: float | None = Field(None, title=gettext_noop("CPU limit"), description=(
        gettext_noop("How many CPUs the container may use, such as 0.5. Empty: no limit.")))


class HttpProbe(SpecModel):
    path: str = "/"
    port: int


class Healthcheck(SpecModel):
    http: HttpProbe | None = None
    command: list[str] | None = None
    interval: float = 2
    timeout: float = 2
    retries: float = 10


class RunOptions(SpecModel):
    """The options every single-container kind shares (see ``runner.validate_run_options``)."""

    command: str | list[str] | None = Field(None, title=gettext_noop("Command"), description=(
        gettext_noop("Overrides the image's command, as one line (quoted like a shell) or a "
                     "list. Empty: the image's own.")))
    ports: list[str] | None = Field(None, title=gettext_noop("Published ports"), description=(
        gettext_noop("One per line, [ip:]host_port:container_port such as "
                     "127.0.0.1:8080:8080. Not needed with domains.")),
        json_schema_extra={"x-form": "lines"})
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = Field(
        "unless-stopped", title=gettext_noop("Restart policy"), description=(
            gettext_noop("What the engine does when the container exits.")))
    limits: Limits | None = Field(None, title=gettext_noop("Limits"))
    healthcheck: Healthcheck | None = Field(None, title=gettext_noop("Health check"), description=(
        gettext_noop("JSON: {\"http\": {\"path\": \"/health\", \"port\": 8080}} or "
                     "{\"command\": [\"test\", \"-f\", \"/ready\"]}; optional interval, timeout "
                     "and retries.")),
        json_schema_extra={"x-form": "json"})
    auto_rollback: bool = Field(False, title=gettext_noop("Roll back automatically"), description=(
        gettext_noop("Go back to the previous version when the health check fails after a "
                     "deploy.")))
    domains: list[str] = Field(None, title=gettext_noop("Domains"), description=(
        gettext_noop("Host names the proxy routes to this workload, one per line.")),
        json_schema_extra={"x-form": "lines"})
    http_port: int | None = Field(None, ge=1, le=65535, title=gettext_noop("HTTP port"),
                                  description=gettext_noop(
                                      "The container port the proxy dials (needed with "
                                      "domains)."))
    drain_seconds: float | None = Field(None, ge=0, le=300, title=gettext_noop("Drain time"),
                                        description=gettext_noop(
                                            "Seconds the previous container keeps serving "
                                            "requests in flight after a swap."))
    stop_grace_seconds: float | None = Field(
        None, ge=0, le=300, title=gettext_noop("Stop grace"),
        description=gettext_noop("Seconds a container gets to stop before it is killed."))


# Pydantic's error types -> our messages (the kind's own checks have the precise ones).
def _message(error):
    kind = error["type"]
    if kind == "extra_forbidden":
        return _("Unknown field.")
    if kind == "missing":
        return _("This field is required.")
    if kind.startswith("bool"):
        return _("Must be true or false.")
    if kind.startswith("string"):
        return _("Must be a string.")
    if kind.startswith("int"):
        return _("Must be a whole number.")
    if kind.startswith("float"):
        return _("Must be a number.")
    if kind.startswith("list"):
        return _("Must be a list.")
    if kind.startswith(("dict", "model")):
        return _("Must be an object.")
    if kind == "literal_error":
        return _("Not one of the allowed values.")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _("Out of range.")
    return _("Not a valid value.")


def _field_names(model, names=None):
    names = set() if names is None else names
    for name, info in model.model_fields.items():
        names.add(name)
        for arg in getattr(info.annotation, "__args__", ()) or (info.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg is not model:
                _field_names(arg, names)
    return names


def _path(loc, names, unknown=False):
    """("limits", "cpus") -> "limits.cpus"; ("ports", 0) -> "ports[0]"; the union member tags
    pydantic puts in a location ("str", "list[str]") are left out. ``unknown``: the last part
    is a key the model does not know (kept: it is what the message is about)."""
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in names or (unknown and index == len(loc) - 1):
            path += f".{part}" if path else part
    return path or "spec"


def typed_errors(model, spec):
    """{field path: message} for what ``model`` refuses in ``spec`` (first message per path)."""
    try:
        model.model_validate(spec)
    except ValidationError as exc:
        names = _field_names(model)
        errors = {}
        for error in exc.errors():
            path = _path(error["loc"], names, unknown=error["type"] == "extra_forbidden")
            errors.setdefault(path, _message(error))
        return errors
    return {}


def _inline(schema):
    """The model's JSON schema with its ``$defs`` inlined, so it can sit inside another
    document's schema (the OpenAPI components have no place for them)."""
    defs = schema.pop("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return walk(copy.deepcopy(defs[ref.rsplit("/", 1)[1]]))
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


def spec_schema(source):
    """One kind's spec as JSON Schema, titled with the kind."""
    schema = _inline(source.spec_model.model_json_schema())
    schema["title"] = f"{source.kind} spec"
    return schema


def spec_variants(sources):
    """``spec`` in the API schema: any one of the kinds' specs (the workload's ``kind`` says
    which one applies; a spec valid for another kind is refused with a 422)."""
    return {"anyOf": [spec_schema(source) for source in sources.values()]}
