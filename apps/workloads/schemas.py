"""API payloads for workloads, sources and registry credentials, built from the bounded input
types in apps.core.schemas."""
from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from apps.core.schemas import Id, Line, StrictSchema, Text
from apps.workloads.models import NAME_RE
from apps.workloads.sources import SOURCES
from apps.workloads.sources.options import spec_variants

ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
NAME_PATTERN = NAME_RE.pattern
Name = Line(63, pattern=NAME_PATTERN)
# Typed as an object here (the workload's kind says which spec applies, and the action checks it
# against that kind's model); documented as one variant per kind.
SpecIn = Annotated[dict[str, Any], Field(description=(
    "The kind's settings: the variant titled with the workload's kind applies. "
    "GET /api/sources has a sample of each kind."), json_schema_extra=spec_variants(SOURCES))]


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
    host: Name | None = Field(None, description=(
        "The name of the Docker host to run on (default: the local engine). Moving a "
        "workload later: POST /api/workloads/{id}/move."))
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
    domains: list[str] = Field(description="Host names the proxy routes to this workload.")
    host: str = Field(description="The name of the Docker host the workload runs on.")
    host_state: str = Field(description="up, down or unknown (see GET /api/hosts).")
    title: str
    description: str
    title_en: str | None
    title_ru: str | None
    description_en: str | None
    description_ru: str | None
    state: str
    desired_state: str  # "running" or "stopped" (see apps.workloads.controls)
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
    spec_schema: dict[str, Any] = Field(description="The kind's spec as JSON Schema.")


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
