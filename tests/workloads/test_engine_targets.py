"""Which engine a call talks to: the local one unless a block says otherwise, per context."""
import os
import stat
import threading

from apps.workloads import engine
from apps.workloads.engine.targets import EngineTarget, cli_environment, credentials_dir


def test_calls_go_to_the_local_engine_unless_a_block_names_another():
    remote = EngineTarget(name="second", url="tcp://10.0.0.2:2376")
    assert engine.current_target() == engine.LOCAL
    with engine.using(remote):
        assert engine.current_target() is remote
        assert not engine.engine_is_local()
    assert engine.current_target() == engine.LOCAL


def test_a_thread_working_on_one_host_never_sees_another_threads_host():
    seen = {}
    started = threading.Barrier(2)

    def work(name):
        with engine.using(EngineTarget(name=name, url=f"tcp://{name}:2376")):
            started.wait(timeout=10)
            seen[name] = engine.current_target().name

    threads = [threading.Thread(target=work, args=(name,)) for name in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == {"alpha": "alpha", "beta": "beta"}


def test_credentials_never_appear_in_a_targets_repr():
    target = EngineTarget(name="second", url="tcp://h:2376", tls_key="KEY-CANARY-1",
                          ssh_key="SSH-CANARY-2")
    assert "CANARY" not in repr(target)


def test_tls_credentials_are_written_privately_for_the_cli():
    target = EngineTarget(name="second", url="tcp://h:2376", tls_ca="CA", tls_cert="CERT",
                          tls_key="KEY")
    env = cli_environment(target)
    assert env["DOCKER_HOST"] == "tcp://h:2376" and env["DOCKER_TLS_VERIFY"] == "1"
    path = credentials_dir(target)
    assert env["DOCKER_CERT_PATH"] == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    key = os.path.join(path, "key.pem")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert open(key).read() == "KEY"


def test_a_changed_certificate_makes_another_connection_key():
    first = EngineTarget(name="h", url="tcp://h:2376", tls_cert="A")
    second = EngineTarget(name="h", url="tcp://h:2376", tls_cert="B")
    assert first.fingerprint != second.fingerprint and first != second
