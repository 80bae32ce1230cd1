"""Docker test helpers driven only by the ``docker`` CLI and ``docker-registry``.

Deliberately never imports the ``docker`` Python package: the project lets a
single application module own that dependency, and the tests must observe the
engine from the outside, the same way an operator would.

Everything created here is labelled ``tinyforge.test=1`` where Docker allows
labels, so ``remove_containers("tinyforge.test=1")`` etc. can sweep up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TEST_LABEL = "tinyforge.test=1"
POLL_INTERVAL_S = 0.1
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class DockerError(RuntimeError):
    """A ``docker`` CLI call exited non-zero; carries its exit code and output."""

    def __init__(self, args, returncode, stdout, stderr):
        self.cmd = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"{' '.join(self.cmd)} exited {returncode}: {stderr.strip() or stdout.strip()}"
        )


def _docker(*args, config_dir=None, input=None, check=True, env=None, timeout=300):
    """Run ``docker [--config DIR] ARGS``; return CompletedProcess, raise DockerError if check."""
    cmd = ["docker"]
    if config_dir is not None:
        cmd += ["--config", str(config_dir)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise DockerError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def engine_available() -> bool:
    """True when ``docker info`` succeeds within 20 s."""
    try:
        return _docker("info", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2) -> tuple[int, str]:
    """GET ``url``; return (status, body text). HTTP errors are returned, not raised.

    Connection-level failures (refused, reset, timeout) raise OSError.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def wait_for_http(url: str, expect_substring: str, deadline_s: float = 20) -> str:
    """Poll ``url`` until a 2xx response contains ``expect_substring``; return the body.

    Raises AssertionError describing the last status/error on timeout.
    """
    deadline = time.monotonic() + deadline_s
    last = "no attempt made"
    while True:
        try:
            status, body = http_get(url)
            if 200 <= status < 300 and expect_substring in body:
                return body
            last = f"HTTP {status}: {body[:200]!r}"
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{url} did not serve {expect_substring!r} within {deadline_s}s; last: {last}"
            )
        time.sleep(POLL_INTERVAL_S)


class Registry:
    """A throwaway ``docker-registry`` (distribution 2.x) on 127.0.0.1.

    Docker treats 127.0.0.0/8 as insecure registries, so plain HTTP works.
    Each instance keeps its files in its own sub-directory of ``tmpdir``,
    so several registries may share one pytest ``tmp_path``.
    """

    def __init__(self):
        self.process = None
        self.port = None
        self.root = None
        self.log_path = None
        self.user = None
        self.password = None
        self.notifications = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` — the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def start(self, tmpdir, htpasswd_user=None, htpasswd_password=None,
              notifications=None) -> Registry:
        """Write config (and htpasswd when a user is given), launch, wait until /v2/ answers.

        ``notifications``: the ``notifications.endpoints`` list of the registry's config
        (dicts with name, url, headers, timeout, threshold, backoff...), sent as it is."""
        return self.start_on(free_port(), tmpdir, htpasswd_user, htpasswd_password,
                             notifications)

    def start_on(self, port, tmpdir, htpasswd_user=None, htpasswd_password=None,
                 notifications=None) -> Registry:
        """``start`` on a given port (e.g. one already written into a workload's image)."""
        self.notifications = notifications
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix=f"registry-{self.port}-", dir=tmpdir))
        self.log_path = self.root / "registry.log"
        auth = None
        if htpasswd_user is not None:
            self.user, self.password = htpasswd_user, htpasswd_password or ""
            auth = self._write_htpasswd()
        config = self._write_config(auth)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(config)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(20)
        return self

    def _write_htpasswd(self) -> Path:
        """Write a bcrypt htpasswd file for the configured user; return its path."""
        import bcrypt  # dev dependency; only needed for auth registries

        hashed = bcrypt.hashpw(
            self.password.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")
        ).decode()
        path = self.root / "htpasswd"
        path.write_text(f"{self.user}:{hashed}\n")
        return path

    def _write_config(self, htpasswd_path=None) -> Path:
        """Write config.yml (filesystem storage, deletes enabled, optional htpasswd)."""
        data_dir = self.root / "data"
        data_dir.mkdir()
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {json.dumps(str(data_dir))}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if htpasswd_path is not None:
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: tinyforge-test",
                f"    path: {json.dumps(str(htpasswd_path))}",
            ]
        if self.notifications:
            # YAML is a superset of JSON: the endpoints go in as written.
            lines.append("notifications: " + json.dumps({"endpoints": self.notifications}))
        path = self.root / "config.yml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _wait_ready(self, deadline_s: float) -> None:
        """Poll /v2/ until it answers 200 or 401; raise with the log on failure."""
        deadline = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited early:\n{self.log_text()}")
            try:
                status, _ = http_get(f"{self.url}/v2/", timeout=1)
                if status in (200, 401):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"docker-registry not ready in {deadline_s}s:\n{self.log_text()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def log_text(self) -> str:
        """Return the registry's combined stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the registry process and wait for it (kill after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _static_busybox() -> str:
    """Path of a statically linked busybox on the host (needed in FROM scratch)."""
    have_file = shutil.which("file") is not None
    for path in BUSYBOX_CANDIDATES:
        if not os.path.exists(path):
            continue
        if not have_file:
            return path
        out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout
        if "statically linked" in out or "static-pie" in out:
            return path
    raise RuntimeError("no static busybox found; install busybox-static")


def _build(tag, tmpdir, dockerfile_lines, files, labels=None) -> str:
    """Build a busybox-based context with the legacy builder; return the image id."""
    ctx = Path(tempfile.mkdtemp(prefix="build-", dir=tmpdir))
    shutil.copy2(_static_busybox(), ctx / "busybox")
    for name, content in files.items():
        (ctx / name).write_text(content)
    all_labels = {"tinyforge.test": "1", **(labels or {})}
    label_args = " ".join(f"{json.dumps(k)}={json.dumps(str(v))}" for k, v in all_labels.items())
    lines = [
        "FROM scratch",
        "COPY busybox /bin/busybox",
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        *dockerfile_lines,
        f"LABEL {label_args}",
    ]
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    iidfile = ctx / "iid"
    try:
        _docker("build", "--iidfile", iidfile, "-t", tag, ctx, env={"DOCKER_BUILDKIT": "0"})
    except DockerError as exc:
        # The legacy builder reuses cached intermediate images, which every build of this
        # busybox base shares; another test session on the same engine removing its own images
        # can delete one mid-build ("unable to find image"). Build again without the cache.
        message = str(exc).lower()
        if "unable to find image" not in message and "no such image" not in message:
            raise
        _docker("build", "--no-cache", "--iidfile", iidfile, "-t", tag, ctx,
                env={"DOCKER_BUILDKIT": "0"})
    return iidfile.read_text().strip()


def build_web_image(tag: str, version, tmpdir, labels=None) -> str:
    """Build a busybox httpd image serving ``tinyforge test version <version>`` on 8080.

    Returns the image id (``sha256:...``).
    """
    return _build(
        tag,
        tmpdir,
        [
            "COPY index.html /www/index.html",
            "EXPOSE 8080",
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
        ],
        {"index.html": f"tinyforge test version {version}\n"},
        labels,
    )


def build_base_image(tag: str, tmpdir, labels=None) -> str:
    """Build a busybox-only image (shell + applets, no web page); return its id."""
    return _build(tag, tmpdir, [], {}, labels)


def build_busybox_image(tag: str, tmpdir, dockerfile_lines, files=None, labels=None) -> str:
    """Build a busybox image from extra Dockerfile lines and {name: text} files; its id."""
    return _build(tag, tmpdir, list(dockerfile_lines), dict(files or {}), labels)


def _repo_of(ref: str) -> str:
    """Strip ``:tag`` / ``@digest`` from an image reference."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref.rsplit(":", 1)[0] if ":" in last else ref


def push(tag: str, docker_config_dir=None) -> str:
    """``docker push`` the tag; return the pushed manifest digest ``sha256:...``."""
    proc = _docker("push", tag, config_dir=docker_config_dir)
    found = re.findall(r"digest: (sha256:[0-9a-f]{64})", proc.stdout)
    if found:
        return found[-1]
    out = _docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout
    repo = _repo_of(tag)
    for entry in json.loads(out) or []:
        if entry.startswith(repo + "@"):
            return entry.split("@", 1)[1]
    raise RuntimeError(f"could not determine pushed digest for {tag}:\n{proc.stdout}")


def login(registry_host: str, user: str, password: str, docker_config_dir) -> None:
    """``docker --config DIR login`` via stdin, keeping ~/.docker untouched."""
    Path(docker_config_dir).mkdir(parents=True, exist_ok=True)
    _docker(
        "login",
        "--username",
        user,
        "--password-stdin",
        registry_host,
        config_dir=docker_config_dir,
        input=password,
        timeout=60,
    )


def remove_image(ref: str) -> None:
    """Force-remove an image reference or id; missing images are ignored."""
    _docker("image", "rm", "--force", ref, check=False)


def _label_arg(label_filter: str) -> str:
    """Accept ``key=value``/``key`` or an already prefixed ``label=...``."""
    return label_filter if label_filter.startswith("label=") else f"label={label_filter}"


def remove_containers(label_filter: str = TEST_LABEL) -> None:
    """Force-remove every container (running or not) matching the label filter."""
    ids = _docker("ps", "-aq", "--filter", _label_arg(label_filter)).stdout.split()
    if ids:
        _docker("rm", "--force", "--volumes", *ids, check=False)


def remove_volumes(label_filter: str = TEST_LABEL) -> None:
    """Force-remove every volume matching the label filter."""
    names = _docker("volume", "ls", "-q", "--filter", _label_arg(label_filter)).stdout.split()
    if names:
        _docker("volume", "rm", "--force", *names, check=False)


def container_ids(*label_filters: str, all_states: bool = True) -> list[str]:
    """Ids of containers matching every label filter (``key=value`` or ``key``)."""
    args = ["ps", "-q", "--no-trunc"] + (["-a"] if all_states else [])
    for label_filter in label_filters:
        args += ["--filter", _label_arg(label_filter)]
    return _docker(*args).stdout.split()


def exec_in(container: str, *command: str) -> str:
    """``docker exec CONTAINER COMMAND...``; return its stdout (raises DockerError on failure)."""
    return _docker("exec", container, *command).stdout


def create_volume(name: str, labels: dict | None = None) -> None:
    args = ["volume", "create"]
    for key, value in {"tinyforge.test": "1", **(labels or {})}.items():
        args += ["--label", f"{key}={value}"]
    _docker(*args, name)


def volume_exists(name: str) -> bool:
    return _docker("volume", "inspect", name, check=False).returncode == 0


def write_into_volume(name: str, filename: str, text: str, image: str) -> None:
    """Write ``text`` to ``filename`` in volume ``name`` from a throwaway container of
    ``image`` (any image with a busybox shell)."""
    _docker("run", "--rm", "--label", TEST_LABEL, "-v", f"{name}:/v", "--entrypoint", "sh",
            image, "-c", f'printf %s "$0" > /v/{filename}', text)



def build_exiting_image(tag: str, code: int, tmpdir, labels=None) -> str:
    """Build a busybox image whose command exits with ``code`` at once (a broken release)."""
    return _build(tag, tmpdir, [f'CMD ["sh", "-c", "exit {int(code)}"]'], {}, labels)


def remove_networks(label_filter: str = TEST_LABEL) -> None:
    """Remove every network matching the label filter (containers on it must be gone)."""
    names = _docker("network", "ls", "-q", "--filter", _label_arg(label_filter)).stdout.split()
    if names:
        _docker("network", "rm", *names, check=False)


def container_state(container: str) -> str:
    """``running``, ``exited``, ... or "" when the container does not exist."""
    proc = _docker("inspect", "--format", "{{.State.Status}}", container, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""
