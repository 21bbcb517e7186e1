#!/usr/bin/env python3
"""Start, wait for and stop the real servers of the tests and benchmarks, on 127.0.0.1.

    scripts/services.py up     [SERVICE...]            start (idempotent); default: all
    scripts/services.py down   [--purge] [SERVICE...]  stop; --purge also deletes data and logs
    scripts/services.py status [SERVICE...]            exit 0 if all run and answer, 3 otherwise
    scripts/services.py clean                          stop all, delete var/services

SERVICE is one of: redis redis-cluster elastic8 elastic9 elastic-cluster. Their files live under
var/services/ (git-ignored). After up and down, var/services.env (scripts/services_env.py) holds
KEY=VALUE lines for the services that run: SERVICES_REDIS_URL, SERVICES_REDIS_CLUSTER_URL (one node
of the cluster: clients find the others), SERVICES_ELASTIC8_URL and SERVICES_ELASTIC8_VERSION, the
same for ELASTIC9, SERVICES_ELASTIC_CLUSTER_URL (and _VERSION): the comma-separated URLs of the 3
nodes of an Elasticsearch 9 cluster, each with its own data and logs. And two of hitcount's own
settings, so that sourcing the file points hitcount at the servers: HITCOUNT_REDIS_URL (the
single-node Redis) and HITCOUNT_ELASTIC_URL (the newest single-node Elasticsearch running).

redis-cluster is a Redis Cluster of 6 nodes (3 masters, 3 replicas) on consecutive ports, each
with its cluster bus on its port + 10000, formed by redis-cli --cluster create on its first up.

Ports (override by environment): SERVICES_REDIS_PORT (16379),
SERVICES_REDIS_CLUSTER_PORT (17000, the first of 6; buses on 27000 to 27005),
SERVICES_ELASTIC8_PORT (19208), SERVICES_ELASTIC8_TRANSPORT_PORT (19308),
SERVICES_ELASTIC9_PORT (19209), SERVICES_ELASTIC9_TRANSPORT_PORT (19309),
SERVICES_ELASTIC_CLUSTER_PORT and SERVICES_ELASTIC_CLUSTER_TRANSPORT_PORT (the
first of 3 consecutive ports each: 19401 and 19501).
SERVICES_VAR moves var/ (the files and services.env) elsewhere, for a set of servers apart
from the checkout's shared ones.
Other settings: SERVICES_ES_TIMEOUT (seconds, 180), SERVICES_ES_HEAP (512m),
SERVICES_ES_CLUSTER_HEAP (each cluster node's, 384m), SERVICES_ELASTIC8_JAVA_HOME,
SERVICES_ELASTIC9_JAVA_HOME and SERVICES_ELASTIC_CLUSTER_JAVA_HOME (default: the
newest fitting JDK under /usr/lib/jvm; Elasticsearch 9 needs Java 21+).

Redis is Debian's redis-server (installed with apt-get when missing). Elasticsearch is the
official integ-test distribution (org.elasticsearch.distribution.integ-test-zip) from Maven
Central, fetched with ``mvn dependency:copy`` (cached in ~/.m2) and run as the system user
hitcount-es, since it refuses to run as root. Elasticsearch and installing packages need
root; Redis alone does not. That distribution ships only the modules transport-netty4,
x-pack-core, x-pack-security and apm: no painless, reindex, analysis-common or ingest-geoip.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Run as scripts/services.py, only scripts/ is on the path: the checkout's root too, for scripts.services_env.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.services_env import (
    ELASTIC_URL,
    REDIS_URL,
    ROOT,
    VAR,
    ServiceError,
    env_file,
    format_env,
    settings_prefix,
    url_variable,
    version_variable,
)

# Standard library only, Python 3.10+: make runs this before any virtual environment exists;
# nox runs it, the end-to-end and chaos tests import it. Each server kind is a Node subclass
# and a service is a named list of nodes, so that a cluster is a service with several nodes.

ELASTIC_VERSIONS = {"elastic8": "8.19.21", "elastic9": "9.5.4"}
ELASTIC_CLUSTER = "elastic-cluster"
SERVICE_NAMES = ("redis", "redis-cluster", *ELASTIC_VERSIONS, ELASTIC_CLUSTER)
DEFAULT_PORTS = {"redis": 16379, "redis-cluster": 17000, "elastic8": 19208, "elastic9": 19209, ELASTIC_CLUSTER: 19401}
DEFAULT_TRANSPORT_PORTS = {"elastic8": 19308, "elastic9": 19309, ELASTIC_CLUSTER: 19501}
# (lowest Java major, highest preferred one): Elasticsearch 8.19 supports Java 17 to 24, so a
# JDK 17 is taken over a newer one; Elasticsearch 9 needs 21 or newer.
JAVA = {"elastic8": (17, 17), "elastic9": (21, None)}
JVM_DIR = Path("/usr/lib/jvm")
ES_USER = "hitcount-es"
ES_FALLBACK_ROOT = Path("/var/lib/hitcount-es")
# The Elasticsearch cluster: its version's, nodes of its own. Three master-eligible nodes, so
# that one may die and the other two still elect a master; each with a small heap, so that
# the cluster and the two single nodes fit beside the tests.
ELASTIC_CLUSTER_VERSION = "elastic9"
ELASTIC_CLUSTER_NODES = 3
ELASTIC_CLUSTER_HEAP = "384m"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REDIS_TIMEOUT = 30.0
# 3 masters with a replica each, the smallest cluster that survives losing a master.
REDIS_CLUSTER_NODES = 6
# Redis Cluster's bus port is the client port + this (redis-server's default).
REDIS_CLUSTER_BUS_OFFSET = 10000
# How long a master may be unreachable before its replica takes over: short, so that the
# failover tests wait seconds, not the 15 s of Redis's default.
REDIS_CLUSTER_NODE_TIMEOUT_MS = 2000
STOP_TIMEOUT = 30.0
LOCK_TIMEOUT = 900.0
# `status` exits with this when a service does not run or does not answer.
NOT_RUNNING = 3


def line(name: str, text: str) -> None:
    """One aligned progress line, flushed so that make and nox show it at once."""
    print(f"{name:<9} {text}", flush=True)


def tail(*paths: Path, lines: int = 15) -> str:
    """The last lines of each non-empty file, to end an error message with."""
    parts = []
    for path in paths:
        with contextlib.suppress(OSError):
            last = path.read_text(errors="replace").splitlines()[-lines:]
            if last:
                parts.append(f"--- last lines of {path} ---\n" + "\n".join(row[:400] for row in last))
    return "".join(f"\n{part}" for part in parts)


def port_open(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        raise ServiceError(f"must run as root to {why}")


def ensure_command(command: str, package: str, log: Path) -> str:
    """The path of ``command``, installed with apt-get from ``package`` when missing."""
    if found := shutil.which(command):
        return found
    need_root(f"apt-get install {package} (which provides {command})")
    line("apt", f"installing {package}")
    log.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("w") as output:
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            if subprocess.run(step, stdout=output, stderr=subprocess.STDOUT, env=environ, check=False).returncode:
                raise ServiceError(f"{' '.join(step)} failed (log: {log}){tail(log)}")
    if found := shutil.which(command):
        return found
    raise ServiceError(f"{command} is still missing after installing {package}")


def jvm_size(environ: Mapping[str, str], name: str, default: str) -> str:
    """The JVM memory size ``name`` of ``environ`` (``512m``, ``2g``), or an error naming it."""
    size = environ.get(name, "").strip() or default
    if not re.fullmatch(r"\d+[kmg]?", size, re.IGNORECASE):
        raise ServiceError(f"{name}={size!r} is invalid: expected a JVM size such as 512m or 2g")
    return size


def elastic_ports(environ: Mapping[str, str], service: str, following: int = 0) -> tuple[int, int]:
    """The HTTP and transport ports of ``service``, each the first of ``1 + following`` consecutive ones."""
    prefix = settings_prefix(service)
    return (
        whole_number(environ, f"{prefix}_PORT", DEFAULT_PORTS[service], 65535 - following),
        whole_number(environ, f"{prefix}_TRANSPORT_PORT", DEFAULT_TRANSPORT_PORTS[service], 65535 - following),
    )


def whole_number(environ: Mapping[str, str], name: str, default: int, highest: int = 65535) -> int:
    """The setting ``name`` of ``environ``, or an error naming it and what it should be."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) <= highest:
        raise ServiceError(f"{name}={raw!r} is invalid: expected a whole number from 1 to {highest}")
    return int(raw)


# ---------------------------------------------------------------- nodes: one server process each


class Node(ABC):
    """One server process on 127.0.0.1: its pid file, its logs, how to start it and whether it answers."""

    # A fragment of the server's command line: a pid file naming a recycled pid is not trusted.
    process_pattern: str
    pid_file_name: str

    def __init__(self, name: str, port: int, directory: Path, timeout: float) -> None:
        self.name = name
        self.port = port
        self._directory = directory
        self.timeout = timeout
        # The version this tool starts, when it pins one.
        self.pinned = ""

    @property
    def directory(self) -> Path:
        """Its pid file, data and logs."""
        return self._directory

    @property
    def pid_file(self) -> Path:
        return self.directory / self.pid_file_name

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on: all are checked free before anything starts."""
        return (self.port,)

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def logs(self) -> list[Path]:
        """The files whose last lines explain a failure."""

    @abstractmethod
    def answers(self) -> bool:
        """Whether it serves requests (a live process may still be starting)."""

    @abstractmethod
    def launch(self) -> subprocess.Popen[bytes]:
        """Start it in the background; the launcher returned exits 0 once the server has detached."""

    def version(self) -> str:
        """The version the running server reports, or ``""``."""
        return ""

    def describe(self, pid: int | None, how: str = "") -> str:
        """``URL (version, how, pid N)`` for the progress lines."""
        details = [part for part in (self.version(), how) if part]
        return f"{self.url} ({', '.join([*details, f'pid {pid}'])})"

    def pid(self) -> int | None:
        """The process id of the running server, if it runs."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if self.runs(pid):
                return pid
        return None

    def runs(self, pid: int) -> bool:
        """Whether ``pid`` is still this server's process (its pid file may be gone: Elasticsearch deletes
        its own as it starts to shut down, long before a wedged one exits)."""
        try:
            return self.process_pattern.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def check_ports(self) -> None:
        for port in self.ports:
            if port_open(port):
                raise ServiceError(
                    f"{self.name}: port {port} is in use by a process this tool does not manage"
                    " (choose others with the SERVICES_*_PORT variables)"
                )

    def wait(self, launcher: subprocess.Popen[bytes] | None, started: float) -> float:
        """Wait until it answers and return the seconds since ``started`` (its launch, by the monotonic clock).

        Stops it and fails, with its logs, when it exits or is not ready ``timeout`` seconds after ``started``.
        """
        detached = None  # when the launcher exited 0: the server must run from then on
        while not self.answers():
            now = time.monotonic()
            code = launcher.poll() if launcher is not None else None
            if code:
                raise ServiceError(f"{self.name}: failed to start (launcher exit code {code}){tail(*self.logs())}")
            if code == 0 and detached is None:
                detached = now
            if detached is not None and now - detached > 5 and self.pid() is None:
                raise ServiceError(f"{self.name}: exited right after starting{tail(*self.logs())}")
            if now - started > self.timeout:
                self.stop()
                raise ServiceError(
                    f"{self.name}: not ready on port {self.port} after {self.timeout:.0f}s, stopped it"
                    f"{tail(*self.logs())}"
                )
            time.sleep(0.2)
        if launcher is not None:
            launcher.wait()
        return time.monotonic() - started

    def stop(self) -> str:
        """SIGTERM, SIGKILL if it still runs after STOP_TIMEOUT; what happened."""
        pid = self.pid()
        killed = ""
        if pid is not None:
            self._signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.runs(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.runs(pid):
                self._signal(pid, signal.SIGKILL)
                time.sleep(0.5)
                killed = f", killed after {STOP_TIMEOUT:.0f}s"
        self.pid_file.unlink(missing_ok=True)
        return "not running" if pid is None else f"stopped  (pid {pid}{killed})"

    def _signal(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass  # it exited meanwhile
        except PermissionError:
            raise ServiceError(f"{self.name}: not allowed to signal pid {pid}: run as root") from None

    def purge(self) -> None:
        """Delete its data and logs (it must be stopped)."""
        for path in (self.directory, *self.logs()):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


class RedisNode(Node):
    """A redis-server that fsyncs every write before answering, as production Redis for hitcount does."""

    process_pattern = "redis-server"
    pid_file_name = "redis.pid"
    # Options added to the command line by the kinds of Redis node.
    options: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def logs(self) -> list[Path]:
        return [self.directory / "start.out", self.directory / "redis.log"]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def launch(self) -> subprocess.Popen[bytes]:
        binary = ensure_command("redis-server", "redis-server", self.directory.parent / "apt.log")
        self.directory.mkdir(parents=True, exist_ok=True)
        start_out, log = self.logs()
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
        command += ["--daemonize", "yes", "--pidfile", str(self.pid_file), "--logfile", str(log)]
        command += ["--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        command += self.options
        with start_out.open("wb") as output:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)


class RedisClusterNode(RedisNode):
    """A redis-server in cluster mode: its cluster bus on the port + REDIS_CLUSTER_BUS_OFFSET, its
    view of the cluster in nodes.conf beside its data, so that a restarted node rejoins alone."""

    options = (
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        str(REDIS_CLUSTER_NODE_TIMEOUT_MS),
        # A replica takes over however long it has been cut off from its master (by default, one cut
        # off for 10 node timeouts, or restarted and not yet synced, never does, and the slots stay
        # down): what the queue acknowledged, a replica confirmed having (HITCOUNT_REDIS_MIN_REPLICAS).
        "--cluster-replica-validity-factor",
        "0",
    )

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.port + REDIS_CLUSTER_BUS_OFFSET)

    def cluster_info(self) -> dict[str, str]:
        """Its ``CLUSTER INFO`` (``cluster_state``, ``cluster_known_nodes``...), or ``{}`` when it does not answer."""
        return self._fields("cluster", "info")

    def serves(self) -> bool:
        """Whether it sees the cluster ok and, a replica, has its master's data: a write then reaches a
        replica at once (a replica still syncing would make the queue refuse writes it must confirm)."""
        replication = self._fields("info", "replication")
        synced = replication.get("role") == "master" or replication.get("master_link_status") == "up"
        return synced and self.cluster_info().get("cluster_state") == "ok"

    def _fields(self, *command: str) -> dict[str, str]:
        """The ``key:value`` lines redis-cli prints for ``command``, or ``{}`` when the node does not answer."""
        binary = shutil.which("redis-cli")
        if binary is None:
            return {}
        answer = subprocess.run(
            [binary, "-p", str(self.port), *command], capture_output=True, text=True, timeout=10, check=False
        )
        pairs = (row.split(":", 1) for row in answer.stdout.splitlines() if ":" in row)
        return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class ElasticSettings:
    """What an Elasticsearch node runs besides its ports: version, Java and heap."""

    version: str
    java: tuple[int, int | None]  # see JAVA
    java_home: str  # empty: chosen by find_java
    heap: str


class ElasticNode(Node):
    """A single-node Elasticsearch without security, from the integ-test distribution, run as ES_USER."""

    process_pattern = "org.elasticsearch"
    pid_file_name = "elasticsearch.pid"

    def __init__(self, name: str, ports: tuple[int, int], home: ElasticHome, settings: ElasticSettings, timeout: float):
        super().__init__(name, ports[0], home.link / name, timeout)
        self.transport_port = ports[1]
        self.home = home
        self.settings = settings
        self.pinned = settings.version

    @property
    def service(self) -> str:
        """The service it belongs to, whose SERVICES_<SERVICE>_* variables set it up."""
        return self.name

    @property
    def cluster_name(self) -> str:
        """Its cluster's name, which also names its log file."""
        return f"hitcount-{self.name}"

    def discovery(self) -> dict[str, object]:
        """The settings by which it finds its cluster: alone, it is one."""
        return {"discovery.type": "single-node"}

    @property
    def directory(self) -> Path:
        # Resolved each time: Elasticsearch must get the real path, which ``ElasticHome.prepare`` may change.
        return self.home.path / self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.transport_port)

    def logs(self) -> list[Path]:
        return [self.home.services / f"{self.name}.out", self.directory / "logs" / f"{self.cluster_name}.log"]

    def _get(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:
            return json.load(answer)

    # The cluster health a node must report to answer: its cluster has formed, every node in it.
    health_query = "wait_for_status=yellow&timeout=2s"

    def answers(self) -> bool:
        try:
            health = self._get(f"/_cluster/health?{self.health_query}")
        except (OSError, ValueError):
            return False
        return isinstance(health, dict) and health.get("status") in ("yellow", "green") and not health.get("timed_out")

    def version(self) -> str:
        # Not from GET /: the integ-test distribution lacks the rest-root module that serves it.
        try:
            answer = self._get("/_nodes/_local?filter_path=nodes.*.version")
        except (OSError, ValueError):
            return ""
        nodes = answer.get("nodes", {}) if isinstance(answer, dict) else {}
        return next((str(node["version"]) for node in nodes.values()), "")

    def launch(self) -> subprocess.Popen[bytes]:
        need_root(f"run Elasticsearch as the user {ES_USER}")
        distribution = self.home.distribution(self.name, self.settings.version)
        java = find_java(self.service, self.settings)
        # Read before data/ is created: a node that never ran may have to bootstrap its cluster.
        discovery = self.discovery()
        for path in (self.directory, *(self.directory / part for part in ("data", "logs", "tmp"))):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, *self.home.user())
        config = self._config(distribution)
        self.pid_file.unlink(missing_ok=True)
        options: dict[str, object] = {
            "cluster.name": self.cluster_name,
            "node.name": f"hitcount-{self.name}",
            **discovery,
            "xpack.security.enabled": "false",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": self.transport_port,
            "path.data": self.directory / "data",
            "path.logs": self.directory / "logs",
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
        }
        # Only distributions that ship the ingest-geoip module know this setting.
        if (distribution / "modules" / "ingest-geoip").is_dir():
            options["ingest.geoip.downloader.enabled"] = "false"
        environ: dict[str, object] = {
            "PATH": CLEAN_PATH,
            "HOME": self.directory,
            "LANG": "C.UTF-8",
            "ES_JAVA_HOME": java,
            "ES_JAVA_OPTS": f"-Xms{self.settings.heap} -Xmx{self.settings.heap}",
            "ES_PATH_CONF": config,
            "ES_TMPDIR": self.directory / "tmp",
        }
        command = ["runuser", "-u", ES_USER, "--", "env", "-i", *(f"{key}={value}" for key, value in environ.items())]
        command += [str(distribution / "bin" / "elasticsearch"), "-d", "-p", str(self.pid_file)]
        command += [word for key, value in options.items() for word in ("-E", f"{key}={value}")]
        line(self.name, f"starting elasticsearch {self.settings.version} (java {java_major(java)}: {java})")
        with self.logs()[0].open("wb") as output:
            return subprocess.Popen(
                command, cwd=distribution, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )

    def _config(self, distribution: Path) -> Path:
        """The node's own copy of the distribution's config directory: nodes of one distribution
        started at once would otherwise race to create the same keystore in it."""
        config = self.directory / "config"
        shutil.copytree(distribution / "config", config, dirs_exist_ok=True)
        for path in (config, *config.rglob("*")):
            os.chown(path, *self.home.user())
        return config


class ElasticClusterNode(ElasticNode):
    """One of the master-eligible nodes of an Elasticsearch cluster on loopback, with data of its own.

    The nodes find each other on their transport ports (``discovery.seed_hosts``). Only the
    very first start of a cluster names the nodes that elect its first master
    (``cluster.initial_master_nodes``): Elasticsearch wants that setting gone once the cluster
    has formed, and a node restarted after a crash rejoins with the data it has.
    """

    def __init__(
        self,
        name: str,
        ports: tuple[int, int],
        home: ElasticHome,
        settings: ElasticSettings,
        timeout: float,
        *,
        peers: Mapping[str, int],
    ):
        """``peers``: every node of the cluster, this one included, by name: its transport port."""
        super().__init__(name, ports, home, settings, timeout)
        self.peers = dict(peers)
        self.health_query = f"wait_for_status=yellow&wait_for_nodes={len(self.peers)}&timeout=2s"

    @property
    def service(self) -> str:
        return ELASTIC_CLUSTER

    @property
    def cluster_name(self) -> str:
        return f"hitcount-{ELASTIC_CLUSTER}"

    def discovery(self) -> dict[str, object]:
        seeds = ",".join(f"127.0.0.1:{port}" for port in self.peers.values())
        options: dict[str, object] = {"discovery.seed_hosts": seeds}
        data = self.directory / "data"
        if not data.is_dir() or not any(data.iterdir()):
            options["cluster.initial_master_nodes"] = ",".join(f"hitcount-{name}" for name in self.peers)
        return options


@dataclass(frozen=True)
class ElasticHome:
    """var/services/es: Elasticsearch's distributions and nodes, in a directory ES_USER can reach.

    When the checkout is not traversable by ES_USER (a mode-700 home or temporary directory),
    the files live under ES_FALLBACK_ROOT instead and var/services/es is a symlink to them.
    """

    services: Path

    @property
    def link(self) -> Path:
        return self.services / "es"

    @property
    def path(self) -> Path:
        """Where the files are; no side effects, for status and down."""
        return self.link.readlink() if self.link.is_symlink() else self.link

    def fallback(self) -> Path:
        """A directory of its own for each set of services (the checkout's, the chaos run's, a session's own)."""
        return ES_FALLBACK_ROOT / f"{ROOT.name}-{hashlib.sha1(str(self.services).encode()).hexdigest()[:12]}"

    def user(self) -> tuple[int, int]:
        """ES_USER's uid and gid; the system user is created on first use."""
        try:
            entry = pwd.getpwnam(ES_USER)
        except KeyError:
            need_root(f"create the system user {ES_USER}")
            command = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
            subprocess.run([*command, "--shell", "/usr/sbin/nologin", ES_USER], check=True)
            entry = pwd.getpwnam(ES_USER)
        return entry.pw_uid, entry.pw_gid

    def user_can(self, test: str, path: Path) -> bool:
        """``test -<test> path`` as ES_USER: root's view of permissions is no guide."""
        command = ["runuser", "-u", ES_USER, "--", "test", test, str(path)]
        return subprocess.run(command, check=False).returncode == 0

    def prepare(self) -> Path:
        """Create the directory (or the fallback and its symlink) and check that ES_USER can write to it."""
        self.user()
        if not self.link.exists() and not self.link.is_symlink():
            self.services.mkdir(parents=True, exist_ok=True)
            if self.user_can("-x", self.services):
                self.link.mkdir()
            else:
                target = self.fallback()
                line("elastic", f"{self.services} is not traversable by {ES_USER}: the files go to {target}")
                target.mkdir(parents=True, exist_ok=True)
                ES_FALLBACK_ROOT.chmod(0o755)
                self.link.symlink_to(target)
        self.path.mkdir(parents=True, exist_ok=True)
        os.chown(self.path, *self.user())
        if not self.user_can("-w", self.path):
            raise ServiceError(f"user {ES_USER} cannot write to {self.path} (a parent directory is not traversable?)")
        return self.path

    def distribution(self, name: str, version: str) -> Path:
        """The unpacked integ-test distribution of ``version``, fetched with mvn (cached in ~/.m2) if need be."""
        target = self.prepare() / f"elasticsearch-{version}"
        if (target / "bin" / "elasticsearch").is_file():
            return target
        mvn = ensure_command("mvn", "maven", self.services / "apt.log")
        artifact = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
        log = self.services / f"mvn-{version}.log"
        line(name, f"fetching {artifact} (Maven Central, cached in ~/.m2)")
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as staging:
            # Run in an empty directory, so that no project pom.xml is picked up.
            command = [mvn, "-q", "-B", "-Dstyle.color=never", "dependency:copy", f"-Dartifact={artifact}"]
            with log.open("w") as output:
                fetched = subprocess.run(
                    [*command, f"-DoutputDirectory={staging}"],
                    cwd=staging,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            archive = Path(staging) / f"elasticsearch-{version}.zip"
            if fetched.returncode or not archive.is_file():
                raise ServiceError(f"{name}: mvn could not fetch {artifact} (log: {log}){tail(log)}")
            unpacked = unpack(archive, Path(staging)) / f"elasticsearch-{version}"
            if not (unpacked / "bin" / "elasticsearch").is_file():
                raise ServiceError(f"{name}: {artifact} holds no elasticsearch-{version}/bin/elasticsearch")
            for directory, _, files in os.walk(unpacked):
                for path in (directory, *(os.path.join(directory, file) for file in files)):
                    os.lchown(path, *self.user())
            unpacked.rename(target)
        return target


def unpack(archive: Path, directory: Path) -> Path:
    """Unzip into ``directory`` keeping the permission bits, which zipfile drops (bin/ must stay executable)."""
    with zipfile.ZipFile(archive) as content:
        for member in content.infolist():
            path = content.extract(member, directory)
            if mode := (member.external_attr >> 16) & 0o777:
                os.chmod(path, mode)
    return directory


def java_major(home: Path) -> int | None:
    """The major version of the JDK at ``home`` (its ``release`` file, else ``java -version``)."""
    if not (home / "bin" / "java").is_file():
        return None
    release = ""
    with contextlib.suppress(OSError):
        release = (home / "release").read_text()
    found = re.search(r'^JAVA_VERSION="([^"]+)"', release, re.MULTILINE)
    if found is None:
        answer = subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True, text=True, check=False)
        found = re.search(r'version "([^"]+)"', answer.stderr)
    digits = re.match(r"\d+", found.group(1).removeprefix("1.")) if found else None  # 1.8.0 is Java 8
    return int(digits.group()) if digits else None


def find_java(name: str, settings: ElasticSettings) -> Path:
    """The JDK for the service ``name``: the one its variable names, else the newest fitting one under JVM_DIR."""
    variable = f"{settings_prefix(name)}_JAVA_HOME"
    if settings.java_home:
        if java_major(Path(settings.java_home)) is None:
            raise ServiceError(f"{variable}={settings.java_home!r}: there is no bin/java there")
        return Path(settings.java_home)
    homes = {home.resolve() for home in JVM_DIR.glob("*")} if JVM_DIR.is_dir() else set()
    chosen = choose_java({home: major for home in homes if (major := java_major(home)) is not None}, *settings.java)
    if chosen is None:
        raise ServiceError(
            f"{name}: Elasticsearch {settings.version} needs Java {settings.java[0]} or newer, and {JVM_DIR} has none"
            f" (apt-get install openjdk-{settings.java[0]}-jdk-headless, or set {variable})"
        )
    return chosen


def choose_java(majors: Mapping[Path, int], lowest: int, preferred: int | None) -> Path | None:
    """The newest JDK of at least ``lowest``, among those of at most ``preferred`` if there are any."""
    fitting = {home: major for home, major in majors.items() if major >= lowest}
    best = {home: major for home, major in fitting.items() if preferred is None or major <= preferred} or fitting
    return max(best, key=lambda home: (best[home], str(home)), default=None)


# ---------------------------------------------------------------- services and their environment file


@dataclass(frozen=True)
class Service:
    """What the command line names: its nodes and the variables describing them."""

    name: str
    nodes: tuple[Node, ...]

    @property
    def url(self) -> str:
        """Where clients connect: its nodes' URLs, comma-separated (a single node's URL alone)."""
        return ",".join(node.url for node in self.nodes)

    def nodes_answer(self) -> bool:
        """Whether every node runs and answers."""
        return all(node.pid() is not None and node.answers() for node in self.nodes)

    def runs(self) -> bool:
        """Whether it serves: for a single node, whether it answers."""
        return self.nodes_answer()

    def form(self) -> None:
        """Make its running nodes one service, once they all answer: nothing to do for a single node."""

    def variables(self) -> dict[str, str]:
        """Its lines of var/services.env when it runs, else none."""
        if not self.runs():
            return {}
        variables = {url_variable(self.name): self.url}
        if version := self.nodes[0].version():
            variables[version_variable(self.name)] = version
        return variables


@dataclass(frozen=True)
class RedisClusterService(Service):
    """A Redis Cluster: running only once every node says ``cluster_state:ok`` and every replica is synced."""

    nodes: tuple[RedisClusterNode, ...]
    timeout: float

    @property
    def url(self) -> str:
        """One node: a Redis URL names one server, and a cluster's clients find the others from it."""
        return self.nodes[0].url

    def runs(self) -> bool:
        return self.nodes_answer() and self._ok()

    def _ok(self) -> bool:
        return all(node.serves() for node in self.nodes)

    def form(self) -> None:
        """Create the cluster when no node knows another (their first start, or after a purge);
        otherwise they rejoin from their nodes.conf: wait until every node says the cluster is ok."""
        if all(node.cluster_info().get("cluster_known_nodes") == "1" for node in self.nodes):
            binary = ensure_command("redis-cli", "redis-tools", self.nodes[0].directory.parent / "apt.log")
            log = self.nodes[0].directory.parent / "create.out"
            command = [binary, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes)]
            command += ["--cluster-replicas", "1", "--cluster-yes"]
            with log.open("wb") as output:
                if subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False).returncode:
                    raise ServiceError(f"{self.name}: redis-cli --cluster create failed{tail(log)}")
        started = time.monotonic()
        while not self._ok():
            if time.monotonic() - started > self.timeout:
                states = ", ".join(f"{node.port}: {node.cluster_info().get('cluster_state')}" for node in self.nodes)
                logs = tail(*self.nodes[0].logs())
                raise ServiceError(f"{self.name}: not ok after {self.timeout:.0f}s ({states}){logs}")
            time.sleep(0.2)
        line(self.name, f"formed   {len(self.nodes) // 2} masters, {len(self.nodes) // 2} replicas")


def with_product_settings(variables: Mapping[str, str]) -> dict[str, str]:
    """``variables`` and the product's settings that point hitcount at them: REDIS_URL, the single-node
    Redis, and ELASTIC_URL, the single-node Elasticsearch of the highest version running."""
    settings = dict(variables)
    if redis := variables.get(url_variable("redis")):
        settings[REDIS_URL] = redis
    running = [name for name in ELASTIC_VERSIONS if url_variable(name) in variables]
    if running:

        def version(name: str) -> tuple[int, ...]:
            return tuple(int(part) for part in re.findall(r"\d+", variables.get(version_variable(name), "")))

        settings[ELASTIC_URL] = variables[url_variable(max(running, key=version))]
    return settings


# A node's launcher (None for a node found starting) and when it was launched or found.
Launch = tuple["subprocess.Popen[bytes] | None", float]


class Services:
    """The services of one checkout: their files in var/services, their URLs in var/services.env."""

    def __init__(self, var: Path | None = None, environ: Mapping[str, str] = os.environ) -> None:
        """With the ports and settings of ``environ`` (SERVICES_*); files under ``var``, by default
        SERVICES_VAR or the checkout's var/."""
        self.var = var or Path(environ.get("SERVICES_VAR") or VAR)
        self.directory = self.var / "services"
        redis = RedisNode(
            "redis",
            whole_number(environ, "SERVICES_REDIS_PORT", DEFAULT_PORTS["redis"]),
            self.directory / "redis",
            REDIS_TIMEOUT,
        )
        self.catalog = {"redis": Service("redis", (redis,)), "redis-cluster": self._redis_cluster(environ)}
        self.elastic_home = ElasticHome(self.directory)
        timeout = whole_number(environ, "SERVICES_ES_TIMEOUT", 180, highest=86400)
        heap = jvm_size(environ, "SERVICES_ES_HEAP", "512m")
        for name, version in ELASTIC_VERSIONS.items():
            settings = ElasticSettings(version, JAVA[name], environ.get(f"{settings_prefix(name)}_JAVA_HOME", ""), heap)
            node = ElasticNode(name, elastic_ports(environ, name), self.elastic_home, settings, timeout)
            self.catalog[name] = Service(name, (node,))
        self.catalog[ELASTIC_CLUSTER] = self._elastic_cluster(environ, timeout)

    def _elastic_cluster(self, environ: Mapping[str, str], timeout: float) -> Service:
        """ELASTIC_CLUSTER_NODES nodes of ELASTIC_CLUSTER_VERSION on consecutive ports from the configured ones."""
        first_http, first_transport = elastic_ports(environ, ELASTIC_CLUSTER, ELASTIC_CLUSTER_NODES - 1)
        names = [f"{ELASTIC_CLUSTER}-{number}" for number in range(1, ELASTIC_CLUSTER_NODES + 1)]
        peers = {name: first_transport + offset for offset, name in enumerate(names)}
        version = ELASTIC_CLUSTER_VERSION
        java_home = environ.get(f"{settings_prefix(ELASTIC_CLUSTER)}_JAVA_HOME", "")
        heap = jvm_size(environ, "SERVICES_ES_CLUSTER_HEAP", ELASTIC_CLUSTER_HEAP)
        settings = ElasticSettings(ELASTIC_VERSIONS[version], JAVA[version], java_home, heap)
        nodes = tuple(
            ElasticClusterNode(
                name, (first_http + offset, peers[name]), self.elastic_home, settings, timeout, peers=peers
            )
            for offset, name in enumerate(names)
        )
        return Service(ELASTIC_CLUSTER, nodes)

    def _redis_cluster(self, environ: Mapping[str, str]) -> RedisClusterService:
        """REDIS_CLUSTER_NODES nodes on consecutive ports from SERVICES_REDIS_CLUSTER_PORT."""
        highest = 65535 - REDIS_CLUSTER_BUS_OFFSET - REDIS_CLUSTER_NODES + 1
        variable = f"{settings_prefix('redis-cluster')}_PORT"
        first = whole_number(environ, variable, DEFAULT_PORTS["redis-cluster"], highest)
        directory = self.directory / "redis-cluster"
        nodes = tuple(
            RedisClusterNode(f"redis-cluster-{index}", first + index, directory / str(index), REDIS_TIMEOUT)
            for index in range(REDIS_CLUSTER_NODES)
        )
        return RedisClusterService("redis-cluster", nodes, REDIS_TIMEOUT)

    def select(self, names: Sequence[str]) -> list[Service]:
        """The services named (all when none is), in the catalog's order."""
        unknown = [name for name in names if name not in self.catalog]
        if unknown:
            raise ServiceError(f"unknown service {unknown[0]!r} (expected: {' '.join(SERVICE_NAMES)})")
        return [service for name, service in self.catalog.items() if not names or name in names]

    def service_at(self, url: str) -> str | None:
        """The name of the service this checkout runs at ``url`` (with this environment's ports), if any."""
        running = (name for name, service in self.catalog.items() if service.url == url and service.runs())
        return next(running, None)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One up, down or clean at a time per checkout."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("w") as lock:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ServiceError(f"another services.py still holds {lock.name}") from None
                    time.sleep(0.5)
            yield

    def write_env(self) -> dict[str, str]:
        """Rewrite var/services.env from what runs and answers now (atomically: readers never see half)."""
        variables: dict[str, str] = {}
        for service in self.catalog.values():
            variables |= service.variables()
        variables = with_product_settings(variables)
        self.var.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.var, prefix=".services.env.", delete=False) as staging:
            staging.write(format_env(variables))
        os.chmod(staging.name, 0o644)
        os.replace(staging.name, env_file(self.var))
        return variables

    def up(self, names: Sequence[str] = ()) -> None:
        """Start what does not run yet and wait for everything named; nodes start side by side."""
        nodes = [node for service in self.select(names) for node in service.nodes]
        with self.lock():
            failures: list[str] = []
            launchers: dict[Node, Launch] = {}
            for node in nodes:
                pid = node.pid()
                if pid is not None and node.answers():
                    line(node.name, f"up       {node.describe(pid, 'already running')}")
                    if node.pinned and node.version() not in ("", node.pinned):
                        line(node.name, f"runs another version than the pinned {node.pinned}: down, then up, to switch")
                elif pid is not None:
                    line(node.name, f"pid {pid} alive but not answering yet: waiting")
                    launchers[node] = (None, time.monotonic())
            launchers |= self._launch([node for node in nodes if node.pid() is None], failures)
            for node, (launcher, started) in launchers.items():
                try:
                    took = node.wait(launcher, started)
                except ServiceError as error:
                    failures.append(str(error))
                else:
                    how = "started" if launcher is not None else "was starting"
                    line(node.name, f"up       {node.describe(node.pid(), f'{how}, ready in {took:.1f}s')}")
            for service in self.select(names):
                if service.nodes_answer() and not service.runs():
                    try:
                        service.form()
                    except ServiceError as error:
                        failures.append(str(error))
            self.write_env()
        if failures:
            raise ServiceError("\n".join([*failures, f"{env_file(self.var)} lists the services that run"]))

    @staticmethod
    def _launch(nodes: list[Node], failures: list[str]) -> dict[Node, Launch]:
        """Launch ``nodes`` once their ports are all free; what went wrong goes to ``failures``."""
        try:
            for node in nodes:
                node.check_ports()
        except ServiceError as error:
            failures.append(str(error))
            return {}
        launchers: dict[Node, Launch] = {}
        for node in nodes:
            node.pid_file.unlink(missing_ok=True)
            try:
                launchers[node] = (node.launch(), time.monotonic())
            except ServiceError as error:
                failures.append(str(error))
        return launchers

    def down(self, names: Sequence[str] = (), purge: bool = False) -> None:
        """Stop the services named; with ``purge``, delete their data and logs too."""
        services = self.select(names)
        with self.lock():
            for node in (node for service in services for node in service.nodes):
                line(node.name, node.stop())
                if purge:
                    node.purge()
                    line(node.name, "purged data and logs")
            self.write_env()

    def status(self, names: Sequence[str] = ()) -> int:
        """Print each node's state; 0 when all run and answer, NOT_RUNNING otherwise."""
        code = 0
        for node in (node for service in self.select(names) for node in service.nodes):
            pid = node.pid()
            if pid is not None and node.answers():
                line(node.name, f"running  {node.describe(pid)}")
                continue
            code = NOT_RUNNING
            line(node.name, "stopped" if pid is None else f"unhealthy (pid {pid} alive, no answer on port {node.port})")
        return code

    def clean(self) -> None:
        """Stop everything and delete var/services and var/services.env."""
        with self.lock():
            for service in self.catalog.values():
                for node in service.nodes:
                    line(node.name, node.stop())
            if self.elastic_home.link.is_symlink() and self.elastic_home.path.is_relative_to(ES_FALLBACK_ROOT):
                shutil.rmtree(self.elastic_home.path, ignore_errors=True)
            for path in self.directory.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.name != ".lock":
                    path.unlink()
            env_file(self.var).unlink(missing_ok=True)
        shutil.rmtree(self.directory)
        print(f"removed {self.directory}")


# ---------------------------------------------------------------- command line


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command and its options; argparse exits 2 with the usage on a mistake."""
    parser = argparse.ArgumentParser(
        prog="services.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{up,down,status,clean}")
    for command, summary in (("up", "start (idempotent)"), ("down", "stop"), ("status", "show; exit 3 unless all run")):
        chosen = commands.add_parser(command, help=summary)
        chosen.add_argument("services", nargs="*", metavar="SERVICE", help=f"{', '.join(SERVICE_NAMES)} (default: all)")
        if command == "down":
            chosen.add_argument("--purge", action="store_true", help="also delete their data and logs")
    commands.add_parser("clean", help="stop all, delete var/services")
    options = parser.parse_args(argv)
    unknown = [name for name in getattr(options, "services", ()) if name not in SERVICE_NAMES]
    if unknown:
        parser.error(f"unknown service {unknown[0]!r} (expected: {' '.join(SERVICE_NAMES)})")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - make runs whatever python3 the machine has
        print(f"services.py: error: needs Python 3.10 or newer, not {sys.version.split()[0]}", file=sys.stderr)
        return 1
    options = arguments(sys.argv[1:] if argv is None else argv)
    try:
        services = Services()
        if options.command == "up":
            services.up(options.services)
        elif options.command == "down":
            services.down(options.services, purge=options.purge)
        elif options.command == "status":
            return services.status(options.services)
        else:
            services.clean()
    except ServiceError as error:
        print(f"services.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
