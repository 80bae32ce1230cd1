"""A workload whose container prints on demand: for the runtime log and controls tests.

The image is busybox; its command prints a startup line (with the secret env value, which the
log endpoint must mask) and then waits. ``say(workload, text)`` makes the running container
print a line later by writing to its PID 1's stdout from an exec.
"""
import time
import uuid

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Reason, Status
from apps.workloads import actions
from tests.support import dockerlab

SECRET = "talker-canary-" + uuid.uuid4().hex[:12]
STARTUP = ["sh", "-c", "echo \"booting with key=$API_KEY\"; exec sleep 100000"]


def build_talker_image(tmpdir):
    """A busybox image of its own (a unique label: two builds never share an image id)."""
    version = uuid.uuid4().hex[:8]
    tag = f"tinyforge-test/talker:{version}"
    dockerlab.build_base_image(tag, tmpdir, labels={"tinyforge.talker": version})
    return tag


def deploy_talker(image, name=None, user=None):
    """Create and deploy (inline) a talker workload; returns the workload."""
    workload = actions.create_workload(
        name=name or f"talker-{uuid.uuid4().hex[:6]}", kind="image",
        spec={"image": image, "local": True, "command": STARTUP},
        env=[{"key": "API_KEY", "value": SECRET, "secret": True}], user=user)
    deploy = dispatch(workload, Reason.API, user=user)
    assert deploy.status == Status.SUCCEEDED, (deploy.error_code, deploy.log)
    return workload


def say(workload, text):
    """Make the workload's running container print ``text`` on its stdout."""
    container = workload.containers.get()
    dockerlab.exec_in(container.docker_id, "sh", "-c", f"echo '{text}' > /proc/1/fd/1")


def poll(check, deadline_s=15, every_s=0.2):
    """``check()``'s first truthy value within the deadline (else the last falsy one)."""
    end = time.monotonic() + deadline_s
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(every_s)
