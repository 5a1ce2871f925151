"""Throwaway services for the fault tests: a Redis and a PostgreSQL of their own, on ports
of their own (never the shared 6379/5432), that a test stops and starts; and helpers to kill
a whole Celery worker (main process and pool child) by the pid a chunk records."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def free_port(start: int) -> int:
    """The first port from ``start`` (+ 10 per xdist worker, so that two workers do not race
    for one) that nothing listens on (50 tried)."""
    xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    start += 10 * (int(xdist[2:]) if xdist[2:].isdigit() else 0)
    for port in range(start, start + 50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {start}..{start + 49}")


class ThrowawayRedis:
    """``redis-server`` without persistence (``--save "" --appendonly no``): a restart loses
    every queued message, as a broker restarted without persistence does."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"throwaway redis on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as abrupt as a crash: nothing written, nothing kept
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def throwaway_redis(start_port: int = 6390) -> Iterator[ThrowawayRedis]:
    workdir = Path(tempfile.mkdtemp(prefix="riskgov-fault-redis-"))
    r = ThrowawayRedis(free_port(start_port), workdir)
    r.start()
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (``initdb`` in a temporary directory, trust auth on
    127.0.0.1), run as the ``postgres`` user when we are root."""

    def __init__(self, port: int, root: Path) -> None:
        self.port, self.root = port, root
        self.data = root / "data"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = Path(bins[-1])

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in cmd)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop now (``-m immediate``: connections cut, as when the database host goes away)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def throwaway_postgres(start_port: int = 5440) -> Iterator[ThrowawayPostgres]:
    root = Path(tempfile.mkdtemp(prefix="riskgov-fault-pg-"))
    pg = ThrowawayPostgres(free_port(start_port), root)
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def parent_pid(pid: int) -> int:
    """The parent of ``pid`` (``/proc/PID/stat`` field 4)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill_whole_worker(child_pid: int) -> list[int]:
    """SIGKILL a prefork worker's main process and its pool child together (both stopped
    first, so the main process cannot requeue the child's message on seeing it die)."""
    main = parent_pid(child_pid)
    pids = [main, child_pid]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids
