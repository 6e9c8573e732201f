"""A PostgreSQL cluster and a Redis server of the chaos test's own, on free ports, that it may kill and restart.

The machine's shared PostgreSQL (5432) and Redis (6379) serve other tests and people, so the chaos test never touches
them. Redis runs without persistence (`--save "" --appendonly no`): every restart starts it empty, as a broker that
lost its data. `stop()` on either always cleans up (processes killed, directories removed), even after a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from process_support import free_port

PG_BIN = Path(os.environ.get("CAREPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_SECONDS = 60


def _service_user() -> str | None:
    """initdb refuses to run as root: as root, run the PostgreSQL binaries as `postgres`; otherwise as ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def missing_binaries() -> list[str]:
    """What this machine lacks to run the chaos test's own services (empty: nothing)."""
    wanted = [PG_BIN / "initdb", PG_BIN / "pg_ctl"]
    missing = [str(path) for path in wanted if not path.exists()]
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a `postgres` user (running as root, and initdb refuses root)")
        if shutil.which("runuser") is None:
            missing.append("runuser")
    return missing


@dataclass
class PostgresCluster:
    """A throwaway cluster: initdb into a temporary directory, pg_ctl start / stop / restart on a free port."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="carepath-chaos-pg-")))
    port: int = field(default_factory=free_port)
    user: str | None = field(default_factory=_service_user)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/carepath"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL)

    def create(self) -> PostgresCluster:
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE carepath")
        return self

    def start(self) -> None:
        # fsync off: commits still reach the OS before they are acknowledged, so a killed server (`-m immediate`) loses
        # nothing; only the machine crashing could, and this throwaway cluster does not outlive the test anyway. (Not
        # synchronous_commit=off: that acknowledges commits still in server memory, which an immediate stop loses.)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
                   " -c max_connections=200")
        result = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-o", options,
                           "-w", "-t", str(START_TIMEOUT_SECONDS), "start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        log = self.root / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def destroy(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.stop("immediate")
        _kill_leftover_postmaster(self.data_dir)
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_leftover_postmaster(data_dir: Path) -> None:
    """If pg_ctl could not stop it, SIGKILL the postmaster named in postmaster.pid (ours alone: our data directory)."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        pass


@dataclass
class RedisServer:
    """redis-server without persistence: `restart()` and `stop()`/`start()` lose every key, queues included."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="carepath-chaos-redis-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """SIGKILL: a crash, not a shutdown (and nothing to save anyway)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
