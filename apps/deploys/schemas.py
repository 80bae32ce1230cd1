from datetime import datetime
from typing import Any

from ninja import Field, Schema

from apps.core.schemas import Id, Line, StrictSchema


class DeployOut(Schema):
    id: int
    workload_id: int
    status: str
    reason: str
    requested_by: str | None
    trigger_id: int | None
    source_kind: str
    pinned_ref: str
    pinned: dict[str, Any]
    error_code: str
    error_message: str
    # Typed facts only: exit_code, port, holder_id, missing (see apps.deploys.failures).
    error_detail: dict[str, Any]
    error_explanation: str
    rollback_of_id: int | None
    promoted_from_id: int | None
    chained_from_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    host: str | None = Field(None, description="The host the entry ran on.")

    backup: dict[str, Any] | None

    @staticmethod
    def resolve_backup(obj):
        """The pre-deploy backup's outcome (never its path: that stays on the server)."""
        backup = obj.backups.first()
        if backup is None:
            return None
        return {"id": backup.pk, "status": backup.status, "reason": backup.reason,
                "size": backup.size}

    @staticmethod
    def resolve_host(obj):
        return obj.host.name if obj.host_id else None

    @staticmethod
    def resolve_requested_by(obj):
        return obj.requested_by.get_username() if obj.requested_by else None

    @staticmethod
    def resolve_error_message(obj):
        return str(obj.error_message)

    @staticmethod
    def resolve_error_explanation(obj):
        return obj.error_explanation


class DeployDetailOut(DeployOut):
    log: str


class PromoteIn(StrictSchema):
    source: Id


class MoveIn(StrictSchema):
    host: Line(63) = Field(description="The name of the host to move the workload to.")


class RollbackIn(StrictSchema):
    deploy_id: Id | None = None
    restore_config: bool = False
    with_data: bool = False


class VersionOut(Schema):
    tag: str
    digest: str
    short: str
    deploy_id: int


class LastDeployOut(Schema):
    id: int
    status: str
    status_label: str
    cause: str
    error: str
    when: str
    url: str


class WorkloadStatusOut(Schema):
    state: str  # running, stopped, failing or absent (never deployed)
    state_label: str
    version: VersionOut | None
    since: str
    urls: list[str]
    last_deploy: LastDeployOut | None
    containers: int
