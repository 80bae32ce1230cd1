"""The workload form's spec fields: one form field per option of each kind's ``spec_model``
(apps.workloads.sources.options), so nobody has to write the spec as JSON.

Every kind gets its own group of fields (``spec__<kind>__<option>``; a nested model's options
as ``spec__<kind>__<option>__<sub>``); the page shows the group of the selected kind. The
values go back into a spec dict (``spec_from``) that the workload actions clean like any other,
and their errors come back to the field they name (``field_for``). The JSON text of the spec
stays on the form for advanced use: ``SPEC_MODE`` says which one a save takes.
"""
import json
import shlex
import types
import typing

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel

SPEC_MODE = "spec_mode"
MODE_FORM, MODE_JSON = "form", "json"
PREFIX = "spec__"


def _members(annotation):
    """The types of an annotation, with ``None`` and the union around them taken off."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _nested_model(info):
    members = _members(info.annotation)
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        extra = info.json_schema_extra or {}
        if not extra.get("x-form"):
            return members[0]
    return None


def options(model, path=()):
    """[(path, FieldInfo)] of every option a form shows for ``model``, nested models opened."""
    found = []
    for name, info in model.model_fields.items():
        nested = _nested_model(info)
        if nested is not None:
            found.extend(options(nested, path + (name,)))
        else:
            found.append((path + (name,), info))
    return found


def field_name(kind, path):
    return PREFIX + kind + "__" + "__".join(path)


def _style(info):
    extra = info.json_schema_extra or {}
    if extra.get("x-form"):
        return extra["x-form"]
    members = _members(info.annotation)
    if typing.get_origin(members[0]) is typing.Literal:
        return "choice"
    if members == [bool]:
        return "bool"
    if members == [int]:
        return "int"
    if members == [float]:
        return "float"
    if list[str] in members and str in members:
        return "command"
    return "line"


def form_field(info, label):
    """A Django form field for one option (never required: the kind's checks say what is
    missing, after the spec is put together). Titles and descriptions were marked with
    gettext_noop where they are declared; they are translated here, lazily (per request)."""
    style = _style(info)
    help_text = _(info.description) if info.description else ""
    common = {"label": label, "help_text": help_text, "required": False}
    if style == "bool":
        return forms.BooleanField(**common)
    if style == "choice":
        values = typing.get_args(_members(info.annotation)[0])
        return forms.ChoiceField(choices=[(v, v) for v in values], **common)
    if style == "int":
        return forms.IntegerField(**common)
    if style == "float":
        return forms.FloatField(**common)
    if style in ("lines", "pairs", "json", "text"):
        rows = {"text": 10, "json": 3}.get(style, 3)
        attrs = {"rows": rows, "cols": 60, "class": "vLargeTextField tf-spec-" + style}
        return forms.CharField(widget=forms.Textarea(attrs=attrs), strip=False, **common)
    return forms.CharField(widget=forms.TextInput(attrs={"class": "vTextField"}), **common)


def kind_fields(source):
    """{form field name: form field} for one kind."""
    fields = {}
    for path, info in options(source.spec_model):
        label = _(info.title) if info.title else path[-1]
        if len(path) > 1 and not info.title:
            label = " ".join(path)
        fields[field_name(source.kind, path)] = form_field(info, label)
    return fields


def _get(spec, path):
    value = spec
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def initial_values(source, spec):
    """The form's initial values for ``source``'s fields from ``spec`` (a stored or sample
    spec)."""
    values = {}
    for path, info in options(source.spec_model):
        value = _get(spec or {}, path)
        style = _style(info)
        if value is None:
            if info.default is not None and style in ("choice", "bool", "line"):
                values[field_name(source.kind, path)] = info.default
            continue
        if style == "lines":
            value = "\n".join(str(item) for item in value) if isinstance(value, list) else value
        elif style == "pairs":
            value = "\n".join(f"{k}={v}" for k, v in value.items()) if isinstance(
                value, dict) else value
        elif style == "json":
            value = json.dumps(value)
        elif style == "command" and isinstance(value, list):
            value = shlex.join(value)
        values[field_name(source.kind, path)] = value
    return values


class FieldProblem(ValueError):
    """A form value that cannot become a spec value: ``field`` is its form field name."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def _spec_value(style, value, name):
    if style == "lines":
        return [line.strip() for line in value.splitlines() if line.strip()] or None
    if style == "pairs":
        pairs = {}
        for line in value.splitlines():
            if not line.strip():
                continue
            key, sep, item = line.partition("=")
            if not sep or not key.strip():
                raise FieldProblem(name, gettext("Write one KEY=VALUE per line."))
            pairs[key.strip()] = item
        return pairs or None
    if style == "json":
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise FieldProblem(name, gettext("This is not valid JSON.")) from None
    if style == "line":
        value = value.strip()
        if value.isdigit() and name.endswith("__memory"):
            return int(value)  # bytes
        return value or None
    if style == "command":
        return value.strip() or None
    if style == "text":
        return value if value.strip() else None
    if style == "float" and float(value).is_integer():
        return int(value)  # 2, as the API would store it, not 2.0
    return value


def spec_from(source, cleaned):
    """The spec ``source``'s form fields describe (options left empty are left out, so the
    kind's defaults apply). Raises FieldProblem."""
    spec = {}
    for path, info in options(source.spec_model):
        name = field_name(source.kind, path)
        style = _style(info)
        value = cleaned.get(name)
        if value in (None, ""):
            continue
        value = _spec_value(style, value, name)
        if value is None or (style == "bool" and value == info.default):
            continue
        target = spec
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return spec


def field_for(source, fields, key):
    """The form field an error about ``spec.<path>`` belongs to (None: the spec as a whole).
    ``key`` is as the actions name it: "spec.limits.memory", "spec.ports[1]"."""
    path = key.split(".", 1)[1] if "." in key else ""
    parts = tuple(part.split("[")[0] for part in path.split(".") if part)
    while parts:
        name = field_name(source.kind, parts)
        if name in fields:
            return name
        parts = parts[:-1]
    return None


def mode_field():
    return forms.ChoiceField(
        label=_("Edit the settings"), required=False, initial=MODE_FORM,
        choices=[(MODE_FORM, _("with the form")), (MODE_JSON, _("as JSON (advanced)"))],
        widget=forms.RadioSelect(attrs={"class": "tf-spec-mode"}),
        help_text=_("The form covers every option; JSON is for pasting a whole spec."))
