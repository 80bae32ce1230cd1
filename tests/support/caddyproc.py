"""A bare ``caddy run`` a test starts itself (the operator's Caddy, say), and probes of a Caddy
admin endpoint from the outside. (The proxy tests have a fuller one in ``proxylab``.)"""
import json
import shutil
import subprocess
import urllib.error
import urllib.request

from tests.support import processes
from tests.support.dockerlab import free_port


def admin_config(admin):
    """The running config at ``admin`` as parsed JSON, or None when nothing answers."""
    try:
        with urllib.request.urlopen(admin.rstrip("/") + "/config/", timeout=1) as response:
            return json.loads(response.read() or b"null") or {}
    except urllib.error.HTTPError:
        return {}
    except OSError:
        return None


def answers(admin):
    return admin_config(admin) is not None


def caddy_pids():
    """Pids of every live ``caddy`` process on the machine."""
    return {pid for pid in processes.live()
            if processes.cmdline(pid).split(" ", 1)[0].endswith("/caddy")}


class OwnCaddy:
    """``caddy run`` on a free admin port, storage in ``root``; ``stop()`` ends it."""

    def __init__(self, root):
        root.mkdir(parents=True, exist_ok=True)
        self.admin = f"http://127.0.0.1:{free_port()}"
        config = {"admin": {"listen": self.admin.removeprefix("http://"),
                            "config": {"persist": False}},
                  "storage": {"module": "file_system", "root": str(root / "storage")}}
        (root / "init.json").write_text(json.dumps(config))
        with open(root / "caddy.log", "ab") as log:
            self.process = subprocess.Popen(
                [shutil.which("caddy") or "/usr/bin/caddy", "run", "--config",
                 str(root / "init.json")],
                cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"HOME": str(root), "XDG_DATA_HOME": str(root / "data"),
                     "XDG_CONFIG_HOME": str(root / "config"), "PATH": "/usr/bin:/bin"})
        assert processes.wait_until(lambda: answers(self.admin), 20), (
            (root / "caddy.log").read_text())

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
