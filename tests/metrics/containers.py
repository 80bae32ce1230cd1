"""Real, labelled busybox containers for the metrics tests, via the docker CLI (never the SDK).

Every container carries ``tinyforge.instance=<this session>`` so the session cleanup in
tests/conftest.py removes it even when a test fails half-way.
"""
from django.conf import settings

from tests.support import dockerlab

IMAGE = "tinyforge-metrics-busybox:test"
BURN_CPU = "while :; do :; done"


def build_image(tmpdir):
    dockerlab.build_base_image(IMAGE, tmpdir)
    return IMAGE


def labels_for(workload, service):
    return {
        "tinyforge.test": "1",
        "tinyforge.instance": settings.TINYFORGE_INSTANCE,
        "tinyforge.workload": str(workload.pk),
        "tinyforge.workload-name": workload.name,
        "tinyforge.service": service,
    }


def run_container(workload, service, command="sleep 3600", cpus=None, memory=None):
    """Start a detached busybox container for ``workload``; returns its full id."""
    args = ["run", "-d", "--name", f"tf-{settings.TINYFORGE_INSTANCE}-{workload.name}-{service}"]
    for key, value in labels_for(workload, service).items():
        args += ["--label", f"{key}={value}"]
    if cpus:
        args += ["--cpus", str(cpus)]
    if memory:
        args += ["--memory", memory]
    args += [IMAGE, "sh", "-c", command]
    return dockerlab._docker(*args).stdout.strip()


def remove(*container_ids):
    if container_ids:
        dockerlab._docker("rm", "--force", *container_ids, check=False)
