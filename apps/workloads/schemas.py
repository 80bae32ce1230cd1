"""API payloads for workloads, sources and registry credentials, and the bounded input types
every router's payloads are built from (unknown fields, oversized text, control characters and
out-of-range integers are refused with a 422 naming the field)."""
import re
from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Path, Query, Schema
from pydantic import AfterValidator, ConfigDict

from apps.workloads.models import NAME_RE
from apps.workloads.sources import SOURCES

# Primary keys are signed 64-bit on SQLite and PostgreSQL: a larger id can name nothing.
ID_MAX = 2**63 - 1
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rules as JSON Schema patterns, so the OpenAPI schema says what is accepted.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _refuse(pattern, message):
    def check(value):
        if value is not None and pattern.search(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


def Line(max_length, *, pattern=None, **extra):  # noqa: N802 - reads as a type in a schema
    """One line of text: at most ``max_length`` characters, no control characters.

    ``pattern`` only documents a stricter rule that the action checks itself (so its message
    stays the action's own, naming the field the way the rest of its errors do)."""
    return Annotated[str, Field(max_length=max_length,
                                json_schema_extra={"pattern": pattern or LINE_PATTERN}, **extra),
                     _refuse(_LINE_CONTROL, "Control characters are not allowed.")]


def Text(max_length, **extra):  # noqa: N802 - reads as a type in a schema
    """Free text (tabs and line breaks allowed), no other control characters."""
    return Annotated[str, Field(max_length=max_length,
                                json_schema_extra={"pattern": TEXT_PATTERN}, **extra),
                     _refuse(_TEXT_CONTROL, "Control characters are not allowed.")]


Id = Annotated[int, Field(ge=1, le=ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]
QueryPage = Annotated[int, Query(ge=1, le=1_000_000)]


class StrictSchema(Schema):
    """Every request payload: a field it does not know is an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


NAME_PATTERN = NAME_RE.pattern
Name = Line(63, pattern=NAME_PATTERN)
SpecIn = Annotated[dict[str, Any], Field(description=(
    "The kind's settings; see GET /api/sources for a sample of each kind."))]


class EnvIn(StrictSchema):
    key: Line(200, pattern=ENV_KEY_PATTERN)
    value: Text(65_536) | None = Field(
        None, description="Omit for a secret to keep its stored value.")
    secret: bool = False


class VolumeIn(StrictSchema):
    name: Line(200) = ""
    host_path: Line(500) = ""
    mount_path: Line(500)
    read_only: bool = False


# The registry can grow at run time (plugins), so the action checks the kind and names it in
# its message; the schema lists the kinds known when it was built.
Kind = Annotated[str, Field(max_length=32, json_schema_extra={"enum": list(SOURCES)})]


class WorkloadIn(StrictSchema):
    name: Name
    kind: Kind = "image"
    ref_id: Line(100) | None = None
    spec: SpecIn = {}
    title: Line(200) | None = None
    description: Text(20_000) | None = None
    title_ru: Line(200) | None = None
    description_ru: Text(20_000) | None = None
    env: list[EnvIn] = Field([], max_length=500)
    volumes: list[VolumeIn] = Field([], max_length=100)
    chain: list[Id] = Field([], max_length=100,
                            description="Workload ids deployed after this one succeeds.")


class WorkloadPatch(StrictSchema):
    name: Name | None = None
    kind: Kind | None = None
    ref_id: Line(100) | None = None
    spec: SpecIn | None = None
    title: Line(200) | None = None
    description: Text(20_000) | None = None
    title_ru: Line(200) | None = None
    description_ru: Text(20_000) | None = None
    env: list[EnvIn] | None = Field(None, max_length=500)
    volumes: list[VolumeIn] | None = Field(None, max_length=100)
    chain: list[Id] | None = Field(None, max_length=100)


class EnvOut(Schema):
    key: str
    value: str | None = Field(None, description="null for secret values: they are write-only")
    secret: bool


class VolumeOut(Schema):
    name: str
    host_path: str
    mount_path: str
    read_only: bool


class ContainerOut(Schema):
    docker_id: str
    name: str
    service: str
    image: str
    digest: str
    state: str
    deploy_id: int | None


class DeploySummary(Schema):
    id: int
    status: str
    reason: str
    pinned_ref: str
    error_code: str
    created_at: datetime
    finished_at: datetime | None


class WorkloadOut(Schema):
    id: int
    name: str
    kind: str
    ref_id: str | None
    spec: dict[str, Any]
    title: str
    description: str
    title_en: str | None
    title_ru: str | None
    description_en: str | None
    description_ru: str | None
    state: str
    env: list[EnvOut]
    volumes: list[VolumeOut]
    containers: list[ContainerOut]
    last_deploy: DeploySummary | None
    chain: list[int]
    created_at: datetime
    updated_at: datetime


class SourceOut(Schema):
    kind: str
    label: str
    schema_sample: dict[str, Any]


REGISTRY_HOST_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$"


class RegistryIn(StrictSchema):
    host: Line(255, pattern=REGISTRY_HOST_PATTERN,
               description="A registry host such as 127.0.0.1:5000.")
    username: Line(200)
    password: Line(4096, description="Write-only: never returned.")


class RegistryOut(Schema):
    id: int
    host: str
    username: str
    created_at: datetime


class HealthOut(Schema):
    status: str
    docker: str


class ErrorOut(Schema):
    detail: str = Field(..., description='The first problem; "<field>: message" for bad input.')
    errors: dict[str, str] | None = Field(None, description="Every bad field and its message.")
    field: str | None = None
    code: str | None = None


# What each operation can answer besides its success: declared so the OpenAPI schema is honest.
READ_ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                413: ErrorOut, 422: ErrorOut, 503: ErrorOut}
