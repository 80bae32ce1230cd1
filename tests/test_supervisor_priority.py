"""serve's background children (task cluster, sampler) can run at a lower CPU priority than the
web server, so they never slow its answers down when the cores are busy."""
import os
import sys

from apps.workloads import supervisor

PRINT_NICE = "import os, sys; open(sys.argv[1], 'w').write(str(os.nice(0)))"


def started_child_niceness(tmp_path, **options):
    out = tmp_path / "nice.txt"
    children = supervisor.Supervisor()
    child = children.start("probe", [sys.executable, "-c", PRINT_NICE, str(out)], **options)
    assert child.wait(timeout=30) == 0
    return int(out.read_text())


def test_a_child_started_with_nice_runs_that_much_below_serve(tmp_path):
    assert started_child_niceness(tmp_path, nice=7) == os.nice(0) + 7


def test_a_child_started_without_nice_keeps_serves_priority(tmp_path):
    assert started_child_niceness(tmp_path) == os.nice(0)
