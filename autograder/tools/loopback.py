"""A real Dask cluster on 127.0.0.1: a ``dask scheduler`` and ``autograder worker`` processes.

For ``bench --cluster`` and the tests. Nothing listens beyond the loopback. Each process runs in
its own process group (so a test can ``kill -9`` a worker's whole group); a keeper thread starts a
new kit worker when one dies, as a cluster's service manager would.
Every worker's output goes to its own log, where ``grade_task`` writes one line per grading it
starts (``fmnist-kit: grading <job>``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Member:
    name: str
    proc: subprocess.Popen
    log: Path
    work: Path

    def text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


@dataclass
class Loopback:
    tmp: Path
    scheduler_file: Path
    address: str = ""
    scheduler: subprocess.Popen | None = None
    members: list[Member] = field(default_factory=list)
    keep: int = 2  # kit workers the keeper holds alive
    threads: int = 1
    _count: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, env: dict[str, str] | None = None, *, keeper: bool = True) -> Loopback:
        self.env = dict(os.environ, **(env or {}))
        log = self.tmp / "scheduler.log"
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.scheduler_file)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        for _ in range(self.keep):
            self.add_worker()
        self.wait_for(self.keep)
        if keeper:
            threading.Thread(target=self._keeper, daemon=True).start()
        return self

    def add_worker(self, *argv: str, plain: bool = False) -> Member:
        with self._lock:
            self._count += 1
            name = f"{'plain' if plain else 'kit'}{self._count}"
        log, work = self.tmp / f"{name}.log", self.tmp / "work"
        if plain:
            cmd = [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                   str(self.scheduler_file), "--nthreads", "1", "--name", name, "--no-nanny"]
        else:
            cmd = [sys.executable, "-m", "autograder", "worker", str(self.scheduler_file), "--threads",
                   str(self.threads), "--name", name, "--work-dir", str(work), *argv]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                env=self.env, start_new_session=True)
        member = Member(name, proc, log, work)
        with self._lock:
            self.members.append(member)
        return member

    def kit_members(self) -> list[Member]:
        return [m for m in self.members if m.name.startswith("kit")]

    def alive(self) -> list[Member]:
        return [m for m in self.kit_members() if m.proc.poll() is None]

    def _keeper(self) -> None:
        while not self._stop.wait(0.5):
            if len(self.alive()) < self.keep:
                self.add_worker()

    def wait_for(self, n: int, timeout: float = 90) -> None:
        """Until ``n`` kit workers are connected (the log line each prints once it is)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum("connected to" in m.text() for m in self.alive()) >= n:
                return
            time.sleep(0.2)
        raise AssertionError("workers did not connect: " + " | ".join(m.text()[-500:] for m in self.members))

    def gradings(self, what: str = "grading") -> dict[str, list[str]]:
        """Job (first 20 characters) -> the workers that started grading it (``what="stopped"``: that
        stopped it unfinished), in each worker's log order."""
        out: dict[str, list[str]] = {}
        for m in self.members:
            for line in m.text().splitlines():
                if line.startswith(f"fmnist-kit: {what} "):
                    out.setdefault(line.split()[2], []).append(m.name)
        return out

    def close(self) -> None:
        self._stop.set()
        for m in self.members:
            _kill_group(m.proc)
        if self.scheduler is not None:
            _kill_group(self.scheduler)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
