"""A real docker-registry notifying a real `manage.py serve`: one push deploys once, and the
deploy's own pulls (which the registry reports too) never start another.

The registry is configured the way the README tells operators to: a `notifications` endpoint
with the hook URL and an `Authorization: Bearer <secret>` header. Deploys run on the real task
cluster (not inline), so the pulls of the deploy reach the hook while it is deploying.
"""
import json
import time
import uuid

import pytest

from tests.support import dockerlab, processes
from tests.support.served import Served, django_shell, make_install, postpone_schedules, query

pytestmark = pytest.mark.docker

QUIET_S = 30


def setup_hook(install, image, port):
    """A webhook trigger (with a secret) bound to one image workload; returns (token, secret,
    workload id)."""
    secret = "reg-hook-" + uuid.uuid4().hex
    out = django_shell(install, "\n".join([
        "from apps.deploys import bindings",
        "from apps.workloads.actions import create_workload",
        f"w = create_workload(name='web-{uuid.uuid4().hex[:6]}', kind='image', "
        f"spec={{'image': {image!r}, 'ports': ['127.0.0.1:{port}:8080']}})",
        f"t = bindings.create_trigger(name='registry', kind='webhook', secret={secret!r})",
        "bindings.bind(t, w)",
        "print('made', t.raw_token, w.pk)",
    ])).splitlines()[-1].split()
    return out[1], secret, int(out[2])


def deploys_of(install, workload_id):
    return query(install, "SELECT id, status, pinned_ref FROM deploys_deploy "
                          "WHERE workload_id = ? ORDER BY id", workload_id)


def log_reasons(install):
    return [reason for (reason,) in query(install, "SELECT reason FROM deploys_hookdelivery")]


def test_a_registry_push_deploys_once_and_the_deploys_own_pulls_never_redeploy(
    tmp_path, engine, publisher
):
    install = make_install(tmp_path / "data")
    postpone_schedules(install)
    served = Served(install, tmp_path)
    registry = dockerlab.Registry()
    try:
        served.wait_until_up()
        repository_path = f"tftest/{uuid.uuid4().hex[:10]}"
        port = dockerlab.free_port()
        # The registry's address is known only once it starts, the hook URL only once the
        # trigger exists: create the trigger for an image on a port picked now.
        registry_port = dockerlab.free_port()
        image = f"127.0.0.1:{registry_port}/{repository_path}:live"
        token, secret, workload_id = setup_hook(install, image, port)
        registry.start_on(registry_port, tmp_path, notifications=[{
            "name": "tinyforge",
            "url": f"http://127.0.0.1:{served.port}/api/hooks/{token}",
            "headers": {"Authorization": [f"Bearer {secret}"]},
            "timeout": "30s", "threshold": 5, "backoff": "1s",
        }])

        digest = publisher.publish(f"{registry.host}/{repository_path}", 1)
        pushed = time.monotonic()
        assert processes.wait_until(
            lambda: [row[1] for row in deploys_of(install, workload_id)] == ["succeeded"], 90
        ), (deploys_of(install, workload_id), log_reasons(install), served.text()[-3000:])
        print(f"push -> deploy succeeded: {time.monotonic() - pushed:.1f} s")
        assert deploys_of(install, workload_id)[0][2] == digest
        dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")

        # Another repository in the same registry: reported, matched to nothing.
        publisher.publish(f"{registry.host}/{repository_path}-other", 2)
        assert processes.wait_until(lambda: "image" in log_reasons(install), 30), (
            log_reasons(install), registry.log_text()[-2000:])

        # For QUIET_S seconds nothing else deploys, though the registry keeps reporting the
        # deploy's pulls.
        changed = processes.wait_until(lambda: len(deploys_of(install, workload_id)) != 1,
                                       QUIET_S, interval=0.5)
        assert not changed, deploys_of(install, workload_id)
        # The log keeps the newest 20 calls: by now mostly the pulls, each ignored.
        reasons = log_reasons(install)
        assert reasons.count("matched") <= 1 and "pull" in reasons, reasons
        assert "signature" not in reasons and "dialect" not in reasons, reasons
        print("delivery log reasons:", json.dumps(sorted(set(reasons))),
              "deliveries logged:", len(reasons))
    finally:
        registry.stop()
        served.cleanup()
        dockerlab.remove_containers(f"tinyforge.instance={install['env']['TINYFORGE_INSTANCE']}")
