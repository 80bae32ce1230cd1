"""API payloads for workloads, sources and registry credentials."""
from datetime import datetime
from typing import Any

from ninja import Field, Schema


class EnvIn(Schema):
    key: str
    value: str | None = Field(None, description="Omit for a secret to keep its stored value.")
    secret: bool = False


class VolumeIn(Schema):
    name: str = ""
    host_path: str = ""
    mount_path: str
    read_only: bool = False


class WorkloadIn(Schema):
    name: str
    kind: str = "image"
    ref_id: str | None = None
    spec: dict[str, Any] = {}
    title: str | None = None
    description: str | None = None
    title_ru: str | None = None
    description_ru: str | None = None
    env: list[EnvIn] = []
    volumes: list[VolumeIn] = []
    chain: list[int] = Field([], description="Workload ids deployed after this one succeeds.")


class WorkloadPatch(Schema):
    name: str | None = None
    kind: str | None = None
    ref_id: str | None = None
    spec: dict[str, Any] | None = None
    title: str | None = None
    description: str | None = None
    title_ru: str | None = None
    description_ru: str | None = None
    env: list[EnvIn] | None = None
    volumes: list[VolumeIn] | None = None
    chain: list[int] | None = None


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


class RegistryIn(Schema):
    host: str
    username: str
    password: str = Field(..., description="Write-only: never returned.")


class RegistryOut(Schema):
    id: int
    host: str
    username: str
    created_at: datetime


class HealthOut(Schema):
    status: str
    docker: str


class ErrorOut(Schema):
    detail: str
