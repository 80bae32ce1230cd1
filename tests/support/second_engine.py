"""A second Docker engine on this machine, for multi-host tests (the recipe in
../shared/stack-notes.md): its own bridge, data and exec roots, reachable over a unix socket,
over TCP with TLS client certificates the fixture makes with ``openssl``, and over SSH through
an ``sshd`` of its own on 127.0.0.1 (a key pair made with ``ssh-keygen``; the engine's socket is
named in the URL's path, since /var/run/docker.sock here is the main engine).

Everything is unique to the test session (bridge name, subnet, port, directory), because the
SQLite and PostgreSQL suites run at the same time on one machine. ``stop_engine()`` and
``start_engine()`` keep the same addresses (the host-down tests). ``close()`` stops what it
started and removes the bridge; the main engine is never touched.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.dockerlab import free_port

DEADLINE_S = 60


def _run(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def _free_subnet():
    """172.31.X.0/24 that no interface of this machine uses yet."""
    used = _run("ip", "-o", "-4", "addr", "show").stdout
    candidates = list(range(100, 250))
    random.shuffle(candidates)
    for third in candidates:
        if f"172.31.{third}." not in used:
            return third
    raise RuntimeError("no free 172.31.X.0/24 subnet for the second engine")


def _make_certificates(directory: Path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    def openssl(*args):
        _run("openssl", *args, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=tinyforge-test-ca")
    for name, usage, subject in (("server", "serverAuth", "/CN=127.0.0.1"),
                                 ("client", "clientAuth", "/CN=tinyforge-client")):
        extensions = directory / f"{name}.ext"
        extensions.write_text(
            f"extendedKeyUsage={usage}\n"
            + ("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if name == "server" else ""))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem",
                "-out", f"{name}.csr", "-subj", subject)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2",
                "-extfile", str(extensions))
    for pem in directory.glob("*-key.pem"):
        pem.chmod(0o600)


class SecondEngine:
    def __init__(self):
        tag = f"{os.getpid() % 100000:05d}{random.randint(0, 99):02d}"
        self.dir = Path(tempfile.mkdtemp(prefix="tf-engine2-"))
        self.bridge = f"tfb{tag}"[:15]
        self.third = _free_subnet()
        self.gateway = f"172.31.{self.third}.1"
        self.port = free_port()
        self.socket = self.dir / "docker.sock"
        self.unix_url = f"unix://{self.socket}"
        self.tcp_url = f"tcp://127.0.0.1:{self.port}"
        self.process = None
        self.log = self.dir / "dockerd.log"
        (self.dir / "tls").mkdir()
        _make_certificates(self.dir / "tls")
        tls = self.dir / "tls"
        self.tls_ca = (tls / "ca.pem").read_text()
        self.tls_cert = (tls / "client-cert.pem").read_text()
        self.tls_key = (tls / "client-key.pem").read_text()
        self.ssh_port = free_port()
        self.ssh_url = f"ssh://root@127.0.0.1:{self.ssh_port}{self.socket}"
        self.sshd = None
        self._make_ssh_keys()
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    # --- SSH ------------------------------------------------------------------------------

    def _make_ssh_keys(self):
        ssh = self.dir / "ssh"
        ssh.mkdir(mode=0o700)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "host_key"))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "client_key"))
        self.ssh_key = (ssh / "client_key").read_text()
        (ssh / "authorized_keys").write_text((ssh / "client_key.pub").read_text())
        (ssh / "sshd_config").write_text("\n".join([
            f"Port {self.ssh_port}", "ListenAddress 127.0.0.1",
            f"HostKey {ssh / 'host_key'}", f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
            f"PidFile {ssh / 'sshd.pid'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
            "AllowStreamLocalForwarding yes", "AllowTcpForwarding yes", ""]))

    def start_sshd(self):
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        ssh = self.dir / "ssh"
        self.sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(ssh / "sshd_config")],
            stdout=subprocess.DEVNULL, stderr=open(ssh / "sshd.log", "ab"),
            start_new_session=True)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            probe = subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{self.ssh_port}"],
                                   capture_output=True)
            if probe.returncode == 0:
                return
            if self.sshd.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("sshd did not start:\n" + (ssh / "sshd.log").read_text()[-2000:])

    # --- the engine process ---------------------------------------------------------------

    def start_engine(self):
        tls = self.dir / "tls"
        command = [
            "dockerd", "--data-root", str(self.dir / "data"), "--exec-root",
            str(self.dir / "exec"), "--pidfile", str(self.dir / "docker.pid"),
            "-H", self.unix_url, "-H", f"tcp://127.0.0.1:{self.port}",
            "--tlsverify", "--tlscacert", str(tls / "ca.pem"),
            "--tlscert", str(tls / "server-cert.pem"), "--tlskey", str(tls / "server-key.pem"),
            "--bridge", self.bridge, "--iptables=false", "--ip6tables=false",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if self.docker("info", check=False).returncode == 0:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("second dockerd did not start:\n" + self.log.read_text()[-3000:])

    def stop_engine(self):
        """Stop dockerd (its containers stop with it); the addresses stay reserved."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def close(self):
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            self.sshd.wait(timeout=10)
        if self.process is not None and self.process.poll() is None:
            # Its own containers first, so that no shim outlives the engine.
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            # Its networks' bridges live in this machine's namespace and would outlive its
            # data directory, each holding a subnet.
            self.docker("network", "prune", "-f", check=False)
        self.stop_engine()
        _run("ip", "link", "set", self.bridge, "down", check=False)
        _run("ip", "link", "delete", self.bridge, check=False)
        subprocess.run(["umount", "-R", str(self.dir / "exec")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- working with it ------------------------------------------------------------------

    def docker(self, *args, check=True, input=None):
        return subprocess.run(["docker", "-H", self.unix_url, *args], check=check,
                              capture_output=True, input=input, timeout=300)

    def load_image(self, ref):
        """Copy ``ref`` from the main engine into this one."""
        saved = subprocess.run(["docker", "save", ref], check=True, capture_output=True,
                               timeout=300).stdout
        self.docker("load", input=saved)

    def container_ids(self, label):
        return self.docker("ps", "-aq", "--filter", f"label={label}").stdout.decode().split()

    def running_ids(self, label):
        return self.docker("ps", "-q", "--filter", f"label={label}").stdout.decode().split()
