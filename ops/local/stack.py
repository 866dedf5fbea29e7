#!/usr/bin/env python3
"""Local newsmon stack without Docker: Kafka (KRaft, Maven jars), Redis, Prometheus, Alertmanager, by PID.

Standard library only, so it runs before the project's venv exists.

    python3 ops/local/stack.py [--profile run|test] install
    python3 ops/local/stack.py [--profile run|test] up [--fresh] [SERVICE ...]
    python3 ops/local/stack.py [--profile run|test] down [SERVICE ...]
    python3 ops/local/stack.py [--profile run|test] status | env
    python3 ops/local/stack.py [--profile run|test] start NAME -- CMD ...   (a tracked app process)
    python3 ops/local/stack.py [--profile run|test] run [--fresh] -- CMD ...  (up, CMD, always down)

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


def up(profile: Profile, services: list[str], fresh: bool) -> None:
    if fresh:
        down(profile, [])
        shutil.rmtree(state_dir(profile) / "data", ignore_errors=True)
    unknown = sorted(set(services) - set(INFRA))
    if unknown:
        raise StackError(f"unknown service(s) {unknown}; choose from {list(INFRA)}")
    state_dir(profile).mkdir(parents=True, exist_ok=True)
    for name in services or list(INFRA):
        if read_pid(profile, name) is not None:
            say(f"{name} already running (pid {read_pid(profile, name)})")
            continue
        began = time.monotonic()
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
    apps = [name for name in names if name not in INFRA]
    infra = [name for name in reversed(INFRA) if name in names]
    for name in apps + infra:
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
    return dict(line.split("=", 1) for line in env_lines(profile))


def status(profile: Profile) -> int:
    names = sorted(set(INFRA) | set(tracked(profile)))
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
    p_up.add_argument("services", nargs="*", help=f"any of {', '.join(INFRA)} (default: all)")
    p_down = sub.add_parser("down", help="stop services (all tracked ones by default)")
    p_down.add_argument("services", nargs="*")
    sub.add_parser("status")
    sub.add_parser("env", help="print the NEWSMON_* settings that point at this stack")
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
        print("\n".join(f"export {line}" for line in env_lines(profile)))
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
