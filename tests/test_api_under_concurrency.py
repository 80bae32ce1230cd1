"""20 clients mixing reads, PATCHes and deploys for 30 s against the real stack (`manage.py
serve`: gunicorn, the task cluster, the sampler) must get no server error and never hit
"database is locked". The figures go to bench/RESULTS.md (bench/run_api.py), not into asserts."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.docker
def test_twenty_clients_mixing_reads_writes_and_deploys_get_no_server_error(engine):
    run = subprocess.run(
        [sys.executable, "bench/run_api.py", "--clients", "20", "--seconds", "30",
         "--workloads", "20", "--ledger", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert "5xx: 0**" in run.stdout, run.stdout + run.stderr[-3000:]
    assert '"database is locked" in the server log: 0**' in run.stdout, run.stdout
    assert "transport errors: 0," in run.stdout, run.stdout
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
