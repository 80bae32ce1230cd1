#!/usr/bin/env bash
# Make sure a Docker engine is usable on this machine. Safe to run repeatedly:
# exits 0 immediately when `docker info` already works.
set -u

LOG=/var/log/tinyforge-dockerd.log
DOCKER_PID=/var/run/docker.pid
CONTAINERD_PID=/var/run/docker/containerd/containerd.pid
DEADLINE_S=60

engine_ok() { docker info >/dev/null 2>&1; }

# True when a process with this pid exists and is not a zombie. A killed
# daemon can linger as a zombie (init may not reap it), and `kill -0` would
# still report it as alive.
pid_alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != "Z" ]
}

# True when the pid file exists but no live process owns that pid.
pidfile_stale() {
    local f=$1
    [ -f "$f" ] || return 1
    ! pid_alive "$(cat "$f" 2>/dev/null)"
}

install_missing() {
    local missing=0 c
    # ip, openssl, sshd: the second engine the multi-host tests start (its bridge, its TLS,
    # its SSH access).
    for c in dockerd docker-registry docker-compose busybox git msgfmt socat ip openssl sshd ssh; do
        command -v "$c" >/dev/null 2>&1 || missing=1
    done
    command -v docker >/dev/null 2>&1 || missing=1
    [ "$missing" -eq 0 ] && return 0
    echo "engine.sh: installing Docker engine and tools via apt-get"
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            docker.io busybox-static docker-compose docker-registry git gettext socat \
            iproute2 openssl openssh-server openssh-client
}

# The tests need the registry, compose, busybox and git too, not only the engine.
if [ "$(id -u)" -eq 0 ]; then
    install_missing || { echo "engine.sh: package installation failed" >&2; exit 1; }
fi

if engine_ok; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "engine.sh: Docker engine not reachable and not root; start dockerd or run as root" >&2
    exit 1
fi

# A dockerd that is alive but not yet answering: just wait for it below.
if [ -f "$DOCKER_PID" ] && ! pidfile_stale "$DOCKER_PID"; then
    echo "engine.sh: dockerd (pid $(cat "$DOCKER_PID")) already running; waiting for it"
else
    rm -f "$DOCKER_PID"
    # A killed dockerd can leave its managed containerd behind. dockerd will
    # reuse a live one, but a stale pid file pointing at nothing must go.
    if pidfile_stale "$CONTAINERD_PID"; then
        rm -f "$CONTAINERD_PID"
    fi
    mkdir -p "$(dirname "$LOG")"
    echo "engine.sh: starting dockerd (log: $LOG)"
    # Networks from a pool of 256 /24s: the default pool holds about 30 networks, and the two
    # test suites sharing this engine (plus bridges a killed test engine leaves) can use them up.
    nohup setsid dockerd --default-address-pool base=10.213.0.0/16,size=24 \
        >>"$LOG" 2>&1 </dev/null &
fi

deadline=$(( $(date +%s) + DEADLINE_S ))
until engine_ok; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "engine.sh: dockerd did not become ready within ${DEADLINE_S}s; last log lines:" >&2
        tail -n 30 "$LOG" >&2 2>/dev/null
        exit 1
    fi
    sleep 0.5
done
echo "engine.sh: Docker engine ready"
exit 0
