"""`manage.py serve` runs the reconcile pass before it starts anything, and starts even when
that pass cannot run."""
import io

from apps.deploys.models import Deploy, Status
from apps.workloads.management.commands.serve import recover_at_start
from apps.workloads.models import EventLog


def test_serve_marks_deploys_of_a_previous_run_interrupted_before_it_starts(make_workload):
    workload = make_workload()
    left = Deploy.objects.create(workload=workload, reason="api", source_kind="image",
                                 status=Status.RUNNING)
    out = io.StringIO()
    recover_at_start(out)
    left.refresh_from_db()
    assert left.status == Status.INTERRUPTED and left.restored == "nothing"
    assert "interrupted: 1" in out.getvalue()
    assert EventLog.objects.filter(workload=workload, kind="interrupted").exists()


def test_serve_still_starts_when_the_recovery_pass_fails(db, monkeypatch):
    from apps.deploys import reconcile

    def broken():
        raise RuntimeError("database went away")

    monkeypatch.setattr(reconcile, "reconcile_all", broken)
    monkeypatch.setattr("apps.deploys.management.commands.reconcile.reconcile_all", broken)
    out = io.StringIO()
    recover_at_start(out)
    assert "Recovery at start skipped: database went away" in out.getvalue()
