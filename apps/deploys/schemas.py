from datetime import datetime
from typing import Any

from ninja import Schema


class DeployOut(Schema):
    id: int
    workload_id: int
    status: str
    reason: str
    requested_by: str | None
    source_kind: str
    pinned_ref: str
    pinned: dict[str, Any]
    error_code: str
    error_message: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None

    @staticmethod
    def resolve_requested_by(obj):
        return obj.requested_by.get_username() if obj.requested_by else None

    @staticmethod
    def resolve_error_message(obj):
        return str(obj.error_message)


class DeployDetailOut(DeployOut):
    log: str


class PromoteIn(Schema):
    source: int
