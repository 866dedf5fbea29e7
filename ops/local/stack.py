#!/usr/bin/env python3
"""Local newsmon stack without Docker: Kafka (KRaft, Maven jars), Redis, Prometheus, Alertmanager, by PID.

Standard library only, so it runs before the project's venv exists.

    python3 ops/local/stack.py [--profile run|test] install
    python3 ops/local/stack.py [--profile run|test] up [--fresh] [SERVICE ...]
    python3 ops/local/stack.py [--profile run|test] down [SERVICE ...]
    python3 ops/local/stack.py [--profile run|test] status | env
    python3 ops/local/stack.py [--profile run|test] start NAME -- CMD ...   (a tracked app process)
    python3 ops/local/stack.py [--profile run|test] run [--fresh] -- CMD ...  (up, CMD, always down)
    python3 ops/local/stack.py [--profile P] up cluster sentinel    (the replicated part, any profile)
    python3 ops/local/stack.py [--profile P] kill NAME | cluster-env (SIGKILL by PID; the part's env)

`--profile cluster` runs the replicated part instead of the single Kafka and Redis: three KRaft
brokers (`cluster`: kafka-1..3) and a Redis primary, a replica and three sentinels (`sentinel`).
Every other profile has the same part on its own ports, started only when asked for by name.

Every process is started in its own session with its PID written under .run/<profile>/pids/ and is
stopped by that PID (SIGTERM to its process group, SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_VERSION = "3.9.2"
CACHE = Path(os.environ.get("NEWSMON_CACHE_DIR", Path.home() / ".cache" / "newsmon"))
KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
PROM_ROOT = CACHE / "prometheus"
PROM_BIN = PROM_ROOT / "usr" / "bin"
AM_ROOT = CACHE / "alertmanager"
AM_BIN = AM_ROOT / "usr" / "bin"
AM_TEMPLATE_DIR = Path("/usr/share/prometheus/alertmanager")
AM_TEMPLATES = ("default.tmpl", "email.tmpl")
APT_PACKAGES = {"redis-server": "redis-server", "kcat": "kcat"}
ALERTMANAGERS = ("alertmanager1", "alertmanager2")  # an HA pair, gossiping on loopback
INFRA = ("kafka", "redis", "prometheus", *ALERTMANAGERS)


@dataclass(frozen=True)
class Profile:
    """Ports of one stack; the profiles never collide with each other, and all stay below the
    ephemeral port range (32768+), where an outgoing connection could hold a port we need."""

    name: str
    kafka: int
    controller: int
    redis: int
    prometheus: int
    worker: int
    exporter: int
    producer: int
    ingest: int
    scrape_interval: str


PROFILES = {
    "run": Profile("run", 9092, 9093, 6379, 9090, 6066, 9108, 9109, 8088, "5s"),
    "test": Profile("test", 19092, 19093, 16379, 19090, 16066, 19108, 19109, 18088, "1s"),
    # For developing fault-injection tests beside a running `test` stack.
    "chaos": Profile("chaos", 29092, 29093, 26379, 29090, 26066, 29108, 29109, 28088, "1s"),
    # For checking a fresh clone's `make test TEST_PROFILE=verify` while another test stack runs.
    "verify": Profile("verify", 31092, 31093, 31379, 31090, 31066, 31108, 31109, 31088, "1s"),
}


# dev1..dev8: one private stack per checkout when several developers share a machine; dev N takes
# the eight ports from 20000 + 200 N (20200-21607), clear of the profiles above.
def _dev_profile(n: int) -> Profile:
    base = 20000 + 200 * n
    return Profile(
        f"dev{n}", base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, "1s"
    )


PROFILES.update({f"dev{n}": _dev_profile(n) for n in range(1, 9)})
# `--profile cluster`: the replicated part by default (CLUSTER_DEFAULT below), ports from 22000.
PROFILES["cluster"] = Profile("cluster", *range(22000, 22008), "1s")


class StackError(RuntimeError):
    """A service could not be installed, started or reached; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# state directory


def state_dir(profile: Profile) -> Path:
    return ROOT / ".run" / profile.name


def pid_file(profile: Profile, name: str) -> Path:
    return state_dir(profile) / "pids" / f"{name}.pid"


def log_file(profile: Profile, name: str) -> Path:
    return state_dir(profile) / "logs" / f"{name}.log"


def read_pid(profile: Profile, name: str) -> int | None:
    try:
        pid = int(pid_file(profile, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


# ---------------------------------------------------------------------------------------------
# installation


def say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def require_java_and_maven() -> None:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java 17+ is required for Kafka: install it (Debian: apt-get install openjdk-17-jre-headless)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    major = java_major(out)
    if major < 17:
        raise StackError(f"Java 17+ is required for Kafka; `java -version` says: {out.splitlines()[0]}")
    if shutil.which("mvn") is None and not kafka_jars_cached():
        raise StackError("Maven is required once to fetch the Kafka jars: apt-get install maven")


def java_major(version_text: str) -> int:
    for token in version_text.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and ("." in token or head != "0"):
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return 0


def kafka_jars_cached() -> bool:
    return (KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar").exists()


def install_kafka_jars() -> None:
    if kafka_jars_cached():
        return
    say(f"fetching Kafka {KAFKA_VERSION} jars with Maven into {KAFKA_LIBS} (once)")
    tmp = KAFKA_LIBS.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(ROOT / "ops/local/kafka/pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(
            f"Maven could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    tmp.rename(KAFKA_LIBS)


def missing_apt_packages() -> list[str]:
    return [package for command, package in APT_PACKAGES.items() if shutil.which(command) is None]


def apt_install(packages: list[str]) -> None:
    if not packages:
        return
    command = "apt-get update && apt-get install -y --no-install-recommends " + " ".join(packages)
    if os.geteuid() != 0:
        raise StackError(f"missing system packages {packages}; run as root:\n    {command}")
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def install_prometheus() -> None:
    """Prometheus and promtool from Debian's package, unpacked into the cache (no web UI bloat)."""
    unpack_debian_package("prometheus", PROM_ROOT, (PROM_BIN / "prometheus", PROM_BIN / "promtool"))


def install_alertmanager() -> None:
    """Alertmanager 0.25 and amtool from Debian's package, unpacked into the cache like Prometheus."""
    binaries = (AM_BIN / "prometheus-alertmanager", AM_BIN / "amtool")
    unpack_debian_package("prometheus-alertmanager", AM_ROOT, binaries)
    install_alertmanager_templates()


def install_alertmanager_templates() -> None:
    """Debian's build reads its default notification templates from one fixed path (no flag since
    0.24.0-5) and applies no config without them: copy them there from the unpacked package."""
    missing = [name for name in AM_TEMPLATES if not (AM_TEMPLATE_DIR / name).exists()]
    if not missing:
        return
    sources = [AM_ROOT / AM_TEMPLATE_DIR.relative_to("/") / name for name in missing]
    if os.geteuid() != 0:
        command = f"install -D -m 644 -t {AM_TEMPLATE_DIR} " + " ".join(map(str, sources))
        raise StackError(
            f"Alertmanager needs its templates in {AM_TEMPLATE_DIR}; run as root:\n    {command}"
        )
    say(f"copying Alertmanager's default templates into {AM_TEMPLATE_DIR} (once)")
    AM_TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copyfile(source, AM_TEMPLATE_DIR / source.name)


def unpack_debian_package(package: str, root: Path, binaries: tuple[Path, ...]) -> None:
    """`apt-get download` + `dpkg-deb -x` into ``root`` (once): the binaries need only libc."""
    if all(path.exists() for path in binaries):
        return
    if shutil.which("apt-get") is None:
        raise StackError(f"{package} comes from Debian's `{package}` package; apt-get is not available here")
    say(f"unpacking Debian's {package} package into {root} (once)")
    download = CACHE / "deb"
    download.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download", package], cwd=download, capture_output=True, text=True)
    if fetched.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        fetched = subprocess.run(
            ["apt-get", "download", package], cwd=download, capture_output=True, text=True
        )
    debs = sorted(download.glob(f"{package}_*.deb"))
    if fetched.returncode != 0 or not debs:
        raise StackError(
            f"`apt-get download {package}` failed (run `apt-get update` first?): {fetched.stderr.strip()}"
        )
    tmp = root.with_name(f"{root.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], check=True)
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)


def install_build_tools() -> None:
    """gcc and this Python's headers: pip compiles the matcher's C extension (streams/matching/_scan.c)."""
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    missing = [] if shutil.which("gcc") else ["gcc"]
    if not headers.exists():
        missing.append(f"python{sys.version_info.major}.{sys.version_info.minor}-dev")
    apt_install(missing)


def install() -> None:
    apt_install(missing_apt_packages())
    require_java_and_maven()
    install_kafka_jars()
    install_prometheus()
    install_alertmanager()


# ---------------------------------------------------------------------------------------------
# services


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_port_free(port: int, service: str) -> None:
    if port_open(port):
        raise StackError(f"port {port} for {service} is already in use by another process (another stack?)")


def spawn(profile: Profile, name: str, cmd: list[str], env: dict[str, str] | None = None) -> int:
    log = log_file(profile, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file(profile, name).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    pid_file(profile, name).write_text(str(proc.pid))
    return proc.pid


def wait_until(check: object, what: str, profile: Profile, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if read_pid(profile, name) is None:
            raise StackError(
                f"{what} exited during start-up; last log lines:\n{tail(log_file(profile, name))}"
            )
        time.sleep(0.1)
    raise StackError(
        f"{what} not ready after {timeout:.0f}s; last log lines:\n{tail(log_file(profile, name))}"
    )


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def kafka_properties(profile: Profile) -> Path:
    data = state_dir(profile) / "data" / "kafka"
    props = state_dir(profile) / "kafka.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{profile.controller}",
                "controller.listener.names=CONTROLLER",
                f"listeners=PLAINTEXT://127.0.0.1:{profile.kafka},CONTROLLER://127.0.0.1:{profile.controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{profile.kafka}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=8",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    return props


def log4j_properties(profile: Profile) -> Path:
    path = state_dir(profile) / "log4j.properties"
    path.write_text(
        "log4j.rootLogger=INFO, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka=INFO\nlog4j.logger.org.apache.kafka=INFO\n"
        "log4j.logger.state.change.logger=WARN\nlog4j.logger.kafka.log.LogCleaner=WARN\n"
    )
    return path


def java_command(profile: Profile, main: str, *args: str) -> list[str]:
    classpath = f"{KAFKA_LIBS}/*"
    return [
        "java",
        "-Xms512m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{log4j_properties(profile)}",
        "-cp",
        classpath,
        main,
        *args,
    ]


def start_kafka(profile: Profile) -> None:
    require_port_free(profile.kafka, "kafka")
    require_port_free(profile.controller, "kafka controller")
    props = kafka_properties(profile)
    if not (state_dir(profile) / "data" / "kafka" / "meta.properties").exists():
        cluster_id = (
            subprocess.run(
                java_command(profile, "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        fmt = subprocess.run(
            java_command(profile, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
            capture_output=True,
            text=True,
        )
        if fmt.returncode != 0:
            raise StackError(f"kafka storage format failed: {fmt.stdout}{fmt.stderr}")
    log = log_file(profile, "kafka")
    offset = log.stat().st_size if log.exists() else 0
    spawn(profile, "kafka", java_command(profile, "kafka.Kafka", str(props)))

    def started() -> bool:
        with open(log, "rb") as handle:
            handle.seek(offset)
            return b"Kafka Server started" in handle.read() and port_open(profile.kafka)

    wait_until(started, f"Kafka on 127.0.0.1:{profile.kafka}", profile, "kafka", 90)


def start_redis(profile: Profile) -> None:
    require_port_free(profile.redis, "redis")
    server = shutil.which("redis-server")
    if server is None:
        raise StackError(
            "redis-server is not installed: run `python3 ops/local/stack.py install` (or apt-get install redis-server)"
        )
    data = state_dir(profile) / "data" / "redis"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(profile.redis),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    spawn(profile, "redis", cmd)
    wait_until(lambda: redis_ping(profile.redis), f"Redis on 127.0.0.1:{profile.redis}", profile, "redis", 20)


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def prometheus_config(profile: Profile) -> Path:
    rules = (
        sorted((ROOT / "ops/prometheus/rules").glob("*.yml"))
        if (ROOT / "ops/prometheus/rules").exists()
        else []
    )
    rule_lines = "".join(f"  - {path}\n" for path in rules if not path.name.endswith("_test.yml"))
    config = state_dir(profile) / "prometheus.yml"
    jobs = {
        "newsmon-worker": profile.worker,
        "newsmon-exporter": profile.exporter,
        "newsmon-producer": profile.producer,
    }
    scrape = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        for job, port in jobs.items()
    )
    # Tests register extra targets (their own short-lived servers) by dropping JSON files here.
    targets = state_dir(profile) / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    dynamic = f"  - job_name: newsmon-dynamic\n    file_sd_configs:\n      - files: ['{targets}/*.json']\n        refresh_interval: 1s\n"
    config.write_text(
        f"global:\n  scrape_interval: {profile.scrape_interval}\n  evaluation_interval: {profile.scrape_interval}\n"
        + (f"rule_files:\n{rule_lines}" if rule_lines else "")
        + f"scrape_configs:\n{scrape}{dynamic}"
    )
    return config


def start_prometheus(profile: Profile) -> None:
    require_port_free(profile.prometheus, "prometheus")
    binary = PROM_BIN / "prometheus"
    if not binary.exists():
        raise StackError("Prometheus is not installed: run `python3 ops/local/stack.py install`")
    data = state_dir(profile) / "data" / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(binary),
        f"--config.file={prometheus_config(profile)}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{profile.prometheus}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2d",
    ]
    spawn(profile, "prometheus", cmd)
    url = f"http://127.0.0.1:{profile.prometheus}/-/ready"
    wait_until(
        lambda: http_ok(url), f"Prometheus on 127.0.0.1:{profile.prometheus}", profile, "prometheus", 30
    )


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# --- Alertmanager HA pair ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertmanagerPorts:
    web: int
    cluster: int


def alertmanager_ports(profile: Profile) -> dict[str, AlertmanagerPorts]:
    """Web and gossip ports of the pair: Prometheus's port + 100..103 (inside each profile's range)."""
    base = profile.prometheus + 100
    return {
        name: AlertmanagerPorts(base + index, base + len(ALERTMANAGERS) + index)
        for index, name in enumerate(ALERTMANAGERS)
    }


def alertmanager_config(profile: Profile) -> Path:
    """One config file for both peers (a pair must route alike), kept across restarts of a peer:
    tests replace it and POST /-/reload; `up --fresh` starts again from the example config."""
    config = state_dir(profile) / "data" / "alertmanager.yml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "ops/alertmanager/alertmanager.yml", config)
    return config


def alertmanager_command(profile: Profile, name: str) -> list[str]:
    ports = alertmanager_ports(profile)
    own = ports[name]
    data = state_dir(profile) / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    peers = [f"--cluster.peer=127.0.0.1:{p.cluster}" for n, p in ports.items() if n != name]
    return [
        str(AM_BIN / "prometheus-alertmanager"),
        f"--config.file={alertmanager_config(profile)}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{own.web}",
        f"--web.external-url=http://127.0.0.1:{own.web}",
        f"--cluster.listen-address=127.0.0.1:{own.cluster}",
        # Loopback is not a private address: without this Alertmanager refuses to pick one.
        f"--cluster.advertise-address=127.0.0.1:{own.cluster}",
        *peers,
        # Gossip on loopback takes milliseconds: the second peer need not wait 15 s before it
        # notifies in the first one's place, nor a restarted peer a minute to settle.
        "--cluster.peer-timeout=2s",
        "--cluster.settle-timeout=5s",
        "--cluster.reconnect-interval=1s",
    ]


def start_alertmanager(profile: Profile, name: str) -> None:
    binary = AM_BIN / "prometheus-alertmanager"
    if not binary.exists() or not (AM_TEMPLATE_DIR / AM_TEMPLATES[0]).exists():
        raise StackError("Alertmanager is not installed: run `python3 ops/local/stack.py install`")
    own = alertmanager_ports(profile)[name]
    require_port_free(own.web, name)
    require_port_free(own.cluster, f"{name} cluster")
    spawn(profile, name, alertmanager_command(profile, name))
    url = f"http://127.0.0.1:{own.web}/-/ready"
    wait_until(lambda: http_ok(url), f"Alertmanager on 127.0.0.1:{own.web}", profile, name, 30)


def alertmanager_env(profile: Profile) -> list[str]:
    urls = ",".join(f"http://127.0.0.1:{p.web}" for p in alertmanager_ports(profile).values())
    return [f"NEWSMON_ALERTMANAGER_URLS={urls}", f"NEWSMON_AMTOOL={AM_BIN / 'amtool'}"]


STARTERS = {
    "kafka": start_kafka,
    "redis": start_redis,
    "prometheus": start_prometheus,
    **{name: (lambda profile, name=name: start_alertmanager(profile, name)) for name in ALERTMANAGERS},
}


# ---------------------------------------------------------------------------------------------
# the cluster part: three KRaft brokers and Redis with Sentinel, on ports of its own per profile

KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
REDIS_NODES = ("redis-primary", "redis-replica", *SENTINELS)
CLUSTER_SERVICES = (*KAFKA_NODES, *REDIS_NODES)
PARTS = {"cluster": KAFKA_NODES, "sentinel": REDIS_NODES}
SENTINEL_MASTER = "newsmon"
# The cluster profile runs only the replicated part (and Prometheus); the others their single nodes.
CLUSTER_DEFAULT = ("prometheus", *CLUSTER_SERVICES)
# Eleven ports per profile, clear of every profile's own eight and of its Alertmanager pair
# (Prometheus + 100..103): dev N uses 20000 + 200 N + 120..130.
CLUSTER_BASE = {"run": 7100, "test": 17100, "chaos": 27100, "verify": 31200, "cluster": 22120}


@dataclass(frozen=True)
class ClusterPorts:
    brokers: tuple[int, int, int]
    controllers: tuple[int, int, int]
    redis_primary: int
    redis_replica: int
    sentinels: tuple[int, int, int]


def cluster_ports(profile: Profile) -> ClusterPorts:
    base = CLUSTER_BASE.get(profile.name, profile.kafka + 120)
    return ClusterPorts(
        (base, base + 1, base + 2), (base + 3, base + 4, base + 5), base + 6, base + 7,
        (base + 8, base + 9, base + 10),
    )  # fmt: skip


def expand_parts(services: list[str]) -> list[str]:
    return [name for service in services for name in PARTS.get(service, (service,))]


def default_services(profile: Profile) -> list[str]:
    return list(CLUSTER_DEFAULT if profile.name == "cluster" else INFRA)


def cluster_env_lines(profile: Profile) -> list[str]:
    ports = cluster_ports(profile)
    return [
        "NEWSMON_KAFKA_BOOTSTRAP=" + ",".join(f"127.0.0.1:{port}" for port in ports.brokers),
        f"NEWSMON_REDIS_URL=redis://127.0.0.1:{ports.redis_primary}/0",
        "NEWSMON_REDIS_SENTINELS=" + ",".join(f"127.0.0.1:{port}" for port in ports.sentinels),
        f"NEWSMON_REDIS_SENTINEL_MASTER={SENTINEL_MASTER}",
        "NEWSMON_TOPIC_REPLICATION=3",
    ]


def kafka_node_properties(profile: Profile, node: int) -> Path:
    """Combined broker+controller `node` (1-3): acks=all writes need 2 of 3 replicas, and a replica
    that was out of sync never becomes leader (no unclean election), so nothing acked is lost."""
    ports = cluster_ports(profile)
    voters = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports.controllers, start=1))
    broker, controller = ports.brokers[node - 1], ports.controllers[node - 1]
    props = state_dir(profile) / f"kafka-{node}.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={node}",
                f"controller.quorum.voters={voters}",
                "controller.listener.names=CONTROLLER",
                f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={state_dir(profile) / 'data' / f'kafka-{node}'}",
                "num.partitions=8",
                "default.replication.factor=3",
                "min.insync.replicas=2",
                "unclean.leader.election.enable=false",
                "offsets.topic.replication.factor=3",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=3",
                "transaction.state.log.min.isr=2",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                # A SIGKILLed broker is fenced after 6 s (default 9) and leaves the ISR after 10 s
                # (default 30), so acks=all writes stall for seconds, not half a minute.
                "broker.session.timeout.ms=6000",
                "broker.heartbeat.interval.ms=1000",
                "replica.lag.time.max.ms=10000",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    return props


def cluster_java_command(profile: Profile, main: str, *args: str) -> list[str]:
    # Three JVMs on a shared machine: a smaller heap than the single broker's.
    heap = {"-Xms512m": "-Xms256m", "-Xmx1g": "-Xmx768m"}
    return [heap.get(arg, arg) for arg in java_command(profile, main, *args)]


def format_kafka_nodes(profile: Profile, nodes: list[int]) -> None:
    """Format unformatted log dirs with the part's one cluster id (kept in the state dir)."""
    id_file = state_dir(profile) / "data" / "kafka-cluster.id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.exists():
        out = subprocess.run(
            cluster_java_command(profile, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        id_file.write_text(out.stdout.strip().splitlines()[-1])
    cluster_id = id_file.read_text().strip()
    for node in nodes:
        props = kafka_node_properties(profile, node)
        if (state_dir(profile) / "data" / f"kafka-{node}" / "meta.properties").exists():
            continue
        fmt = subprocess.run(
            cluster_java_command(profile, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
            capture_output=True, text=True,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise StackError(f"kafka-{node} storage format failed: {fmt.stdout}{fmt.stderr}")


def start_kafka_nodes(profile: Profile, names: list[str]) -> None:
    """Spawn every stopped node first, then wait: a lone node of a new quorum never finishes starting."""
    ports = cluster_ports(profile)
    pending = [name for name in names if read_pid(profile, name) is None]
    nodes = [KAFKA_NODES.index(name) + 1 for name in pending]
    for node in nodes:
        require_port_free(ports.brokers[node - 1], f"kafka-{node}")
        require_port_free(ports.controllers[node - 1], f"kafka-{node} controller")
    format_kafka_nodes(profile, nodes)
    offsets = {}
    for node, name in zip(nodes, pending, strict=True):
        log = log_file(profile, name)
        offsets[name] = log.stat().st_size if log.exists() else 0
        props = state_dir(profile) / f"kafka-{node}.properties"
        spawn(profile, name, cluster_java_command(profile, "kafka.Kafka", str(props)))
    for node, name in zip(nodes, pending, strict=True):
        port = ports.brokers[node - 1]
        wait_until(
            partial(kafka_started, log_file(profile, name), offsets[name], port),
            f"{name} on 127.0.0.1:{port}", profile, name, 120,
        )  # fmt: skip


def kafka_started(log: Path, offset: int, port: int) -> bool:
    with open(log, "rb") as handle:
        handle.seek(offset)
        return b"Kafka Server started" in handle.read() and port_open(port)


def redis_call(port: int, *args: str) -> bytes:
    """One command in RESP over a raw socket (no client library before the venv exists); b"" on error."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(request.encode())
            return sock.recv(65536)
    except OSError:
        return b""


def current_master_port(profile: Profile) -> int | None:
    """The primary's port as the running sentinels see it (after a failover it is the old replica)."""
    for port in cluster_ports(profile).sentinels:
        reply = redis_call(port, "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
        numbers = [int(part) for part in reply.split(b"\r\n") if part.isdigit()]
        if numbers:
            return numbers[-1]
    return None


def start_redis_node(profile: Profile, name: str) -> None:
    """The primary or the replica; a node restarted after a failover rejoins as the new primary's replica."""
    ports = cluster_ports(profile)
    port = ports.redis_primary if name == "redis-primary" else ports.redis_replica
    require_port_free(port, name)
    server = shutil.which("redis-server")
    if server is None:
        raise StackError("redis-server is not installed: run `python3 ops/local/stack.py install`")
    data = state_dir(profile) / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    master = current_master_port(profile) or ports.redis_primary
    cmd = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
           "--dir", str(data), "--daemonize", "no", "--protected-mode", "yes"]  # fmt: skip
    if master != port:
        cmd += ["--replicaof", "127.0.0.1", str(master)]
    spawn(profile, name, cmd)
    wait_until(lambda: redis_ping(port), f"{name} on 127.0.0.1:{port}", profile, name, 20)
    if master != port and read_pid(
        profile, "redis-primary" if master == ports.redis_primary else "redis-replica"
    ):
        wait_until(
            lambda: b"master_link_status:up" in redis_call(port, "INFO", "replication"),
            f"{name} replicating from 127.0.0.1:{master}", profile, name, 30,
        )  # fmt: skip


def sentinel_config(profile: Profile, name: str) -> Path:
    """Written once: Sentinel rewrites its file with what it learns (epochs, replicas, peers)."""
    ports = cluster_ports(profile)
    data = state_dir(profile) / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    path = data / "sentinel.conf"
    if not path.exists():
        port = ports.sentinels[SENTINELS.index(name)]
        path.write_text(
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {data}\n"
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {ports.redis_primary} 2\n"
            # A primary silent for 2 s is down; two of three sentinels agree before failing over.
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 2000\n"
            f"sentinel failover-timeout {SENTINEL_MASTER} 10000\n"
            f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
        )
    return path


def start_sentinel(profile: Profile, name: str) -> None:
    port = cluster_ports(profile).sentinels[SENTINELS.index(name)]
    require_port_free(port, name)
    server = shutil.which("redis-server")
    if server is None:
        raise StackError("redis-server is not installed: run `python3 ops/local/stack.py install`")
    spawn(profile, name, [server, str(sentinel_config(profile, name)), "--sentinel"])
    wait_until(lambda: redis_ping(port), f"{name} on 127.0.0.1:{port}", profile, name, 20)
    if name == SENTINELS[-1]:
        # A failover needs the sentinels to know each other and the replica (learned over seconds).
        wait_until(partial(sentinels_ready, profile), "the sentinels to see a quorum and the replica",
                   profile, name, 60)  # fmt: skip


def sentinels_ready(profile: Profile) -> bool:
    port = cluster_ports(profile).sentinels[0]
    quorum = redis_call(port, "SENTINEL", "ckquorum", SENTINEL_MASTER)
    replicas = redis_call(port, "SENTINEL", "replicas", SENTINEL_MASTER)
    return quorum.startswith(b"+OK 3 usable") and b"ip" in replicas


def kill(profile: Profile, name: str) -> None:
    """SIGKILL one tracked process by its PID (no shutdown hooks: the fault tests' broker and Redis crash)."""
    pid = read_pid(profile, name)
    if pid is None:
        raise StackError(f"{name} is not running")
    signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_file(profile, name).unlink(missing_ok=True)
    say(f"killed {name} (pid {pid})")


STARTERS.update({name: partial(start_redis_node, name=name) for name in ("redis-primary", "redis-replica")})
STARTERS.update({name: partial(start_sentinel, name=name) for name in SENTINELS})


def up(profile: Profile, services: list[str], fresh: bool) -> None:
    if fresh:
        down(profile, [])
        shutil.rmtree(state_dir(profile) / "data", ignore_errors=True)
    services = expand_parts(services) or default_services(profile)
    unknown = sorted(set(services) - set(INFRA) - set(CLUSTER_SERVICES))
    if unknown:
        raise StackError(f"unknown service(s) {unknown}; choose from {[*INFRA, *PARTS]}")
    state_dir(profile).mkdir(parents=True, exist_ok=True)
    for name in services:
        if read_pid(profile, name) is not None:
            say(f"{name} already running (pid {read_pid(profile, name)})")
            continue
        began = time.monotonic()
        if name in KAFKA_NODES:
            start_kafka_nodes(profile, [n for n in services if n in KAFKA_NODES])
        else:
            STARTERS[name](profile)
        say(f"{name} ready in {time.monotonic() - began:.1f}s (pid {read_pid(profile, name)})")


def stop(profile: Profile, name: str, grace: float = 30.0) -> None:
    pid = read_pid(profile, name)
    if pid is None:
        pid_file(profile, name).unlink(missing_ok=True)
        return
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_alive(pid):
        time.sleep(0.1)
    if is_alive(pid):
        say(f"{name} (pid {pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
        signal_group(pid, signal.SIGKILL)
    pid_file(profile, name).unlink(missing_ok=True)
    say(f"stopped {name} (pid {pid})")


def signal_group(pid: int, sig: signal.Signals) -> None:
    # Each process leads its own session (start_new_session), so its group id is its pid.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def tracked(profile: Profile) -> list[str]:
    pids = state_dir(profile) / "pids"
    return sorted(path.stem for path in pids.glob("*.pid")) if pids.exists() else []


def down(profile: Profile, services: list[str]) -> None:
    names = services or tracked(profile)
    # Apps first, then infrastructure in reverse start order, so apps can flush to Kafka and Redis.
    apps = [name for name in names if name not in INFRA and name not in CLUSTER_SERVICES]
    infra = [name for name in reversed((*INFRA, *CLUSTER_SERVICES)) if name in names]
    for name in apps:
        stop(profile, name)
    # The brokers of the cluster part at once: the last one alone cannot shut down in a controlled
    # way (no controller quorum) and would wait out the whole grace period.
    for name in [name for name in infra if name in KAFKA_NODES and read_pid(profile, name)]:
        signal_group(read_pid(profile, name) or 0, signal.SIGTERM)
    for name in infra:
        stop(profile, name)


def env_lines(profile: Profile) -> list[str]:
    return [
        f"NEWSMON_KAFKA_BOOTSTRAP=127.0.0.1:{profile.kafka}",
        f"NEWSMON_REDIS_URL=redis://127.0.0.1:{profile.redis}/0",
        f"NEWSMON_PROMETHEUS_URL=http://127.0.0.1:{profile.prometheus}",
        f"NEWSMON_WORKER_WEB_PORT={profile.worker}",
        f"NEWSMON_EXPORTER_PORT={profile.exporter}",
        f"NEWSMON_PRODUCER_METRICS_PORT={profile.producer}",
        f"NEWSMON_INGEST_PORT={profile.ingest}",
        f"NEWSMON_STACK_PROFILE={profile.name}",
        f"NEWSMON_STACK_DIR={state_dir(profile)}",
        f"NEWSMON_PROMTOOL={PROM_BIN / 'promtool'}",
        *alertmanager_env(profile),
    ]


def stack_env(profile: Profile) -> dict[str, str]:
    env = dict(line.split("=", 1) for line in env_lines(profile))
    if profile.name == "cluster":
        env.update(line.split("=", 1) for line in cluster_env_lines(profile))
    return env


def status(profile: Profile) -> int:
    names = sorted(set(default_services(profile)) | set(tracked(profile)))
    for name in names:
        pid = read_pid(profile, name)
        print(f"{name:12} {'running pid ' + str(pid) if pid else 'stopped'}")
    return 0


def start_app(profile: Profile, name: str, cmd: list[str]) -> None:
    if read_pid(profile, name) is not None:
        raise StackError(f"{name} is already running (pid {read_pid(profile, name)})")
    pid = spawn(profile, name, cmd, env=stack_env(profile))
    time.sleep(0.5)
    if not is_alive(pid):
        raise StackError(f"{name} exited at once; last log lines:\n{tail(log_file(profile, name))}")
    say(f"started {name} (pid {pid}), log {log_file(profile, name)}")


def run_with_stack(profile: Profile, cmd: list[str], fresh: bool) -> int:
    """Bring the stack up, run cmd with its env, and stop everything tracked whatever happens."""

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        up(profile, [], fresh)
        return subprocess.call(cmd, env={**os.environ, **stack_env(profile)})
    except KeyboardInterrupt:
        say("interrupted; stopping the stack")
        return 130
    finally:
        down(profile, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="run")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "install", help="install redis-server, Prometheus, Alertmanager and the Kafka jars (cached)"
    )
    sub.add_parser("build-tools", help="install gcc and the Python headers if missing (for pip)")
    p_up = sub.add_parser("up", help="start services and wait until ready")
    p_up.add_argument("--fresh", action="store_true", help="stop everything and wipe data first")
    p_up.add_argument("services", nargs="*", help=f"any of {', '.join([*INFRA, *PARTS])} (default: all)")
    p_down = sub.add_parser("down", help="stop services (all tracked ones by default)")
    p_down.add_argument("services", nargs="*")
    sub.add_parser("status")
    sub.add_parser("env", help="print the NEWSMON_* settings that point at this stack")
    sub.add_parser("cluster-env", help="print the NEWSMON_* settings that point at the cluster part")
    p_kill = sub.add_parser("kill", help="SIGKILL one tracked process by its PID (fault tests)")
    p_kill.add_argument("name")
    p_start = sub.add_parser("start", help="start a tracked app process")
    p_start.add_argument("name")
    p_start.add_argument("cmd", nargs=argparse.REMAINDER)
    p_run = sub.add_parser("run", help="bring the stack up, run a command, always stop the stack")
    p_run.add_argument("--fresh", action="store_true")
    p_run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    try:
        return dispatch(args, profile)
    except StackError as err:
        say(f"error: {err}")
        return 1


def dispatch(args: argparse.Namespace, profile: Profile) -> int:
    command = args.command
    if command == "install":
        install()
    elif command == "build-tools":
        install_build_tools()
    elif command == "up":
        up(profile, args.services, args.fresh)
    elif command == "down":
        down(profile, args.services)
    elif command == "status":
        return status(profile)
    elif command == "env":
        print("\n".join(f"export {key}={value}" for key, value in stack_env(profile).items()))
    elif command == "cluster-env":
        print("\n".join(f"export {line}" for line in cluster_env_lines(profile)))
    elif command == "kill":
        kill(profile, args.name)
    elif command == "start":
        start_app(profile, args.name, strip_dashes(args.cmd))
    elif command == "run":
        return run_with_stack(profile, strip_dashes(args.cmd), args.fresh)
    return 0


def strip_dashes(cmd: list[str]) -> list[str]:
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise StackError("no command given after --")
    return cmd


if __name__ == "__main__":
    sys.exit(main())
