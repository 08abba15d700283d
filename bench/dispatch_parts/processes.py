"""The processes a scenario starts: a real Celery worker, a real `celery beat`,
and the SMTP sink (dispatch_parts/smtp_sink.py). Each runs in a session of
its own, so it and its children are stopped by its own process group id and
nothing else; each logs to a file in the run's temporary DATA_DIR."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _common as common

BENCH_DIR = Path(__file__).resolve().parent.parent
SINK_SCRIPT = Path(__file__).resolve().parent / "smtp_sink.py"


def child_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment (DATABASE_URL, REDIS_URL, DEBUG, the keys,
    DATA_DIR), with bench/ on PYTHONPATH for the `-I` modules, and `extra`
    (a None value removes the variable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_DIR), str(common.ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class Process:
    """One child process in its own session, logging to `log_path`."""

    label = "process"

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str]):
        self.command = command
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen | None = None
        self.launched = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def launch(self) -> None:
        self.launched = time.perf_counter()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=common.ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped by its id
        )

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown of the process we started
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.fail(f"{self.label} exited with {self.process.returncode}")

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def fail(self, message: str) -> None:
        self.stop()
        sys.exit(f"{message}\n--- {self.label} log (last lines) ---\n{self.tail()}")


class Worker(Process):
    """`celery -A config worker --concurrency=C --pool=prefork -I <modules>`."""

    label = "worker"

    def __init__(
        self,
        concurrency: int,
        loglevel: str,
        log_path: Path,
        *,
        includes: Sequence[str] = (),
        env: dict[str, str | None] | None = None,
    ):
        self.name = f"bench-dispatch@{socket.gethostname()}"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker"]
        command += [f"--loglevel={loglevel}", f"--concurrency={concurrency}", "--pool=prefork"]
        if includes:
            command += ["-I", ",".join(includes)]
        command += ["-n", self.name]
        super().__init__(command, log_path, child_env(env))

    def start(self, timeout: float = 60) -> float:
        """Launch and wait until it answers a ping; the seconds that took."""
        self.launch()
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from launch until the worker answered a ping."""
        from config.celery import app

        while time.perf_counter() - self.launched < timeout:
            self.check()
            if app.control.ping(destination=[self.name], timeout=0.5):
                return time.perf_counter() - self.launched
        self.fail(f"the worker did not answer a ping within {timeout:.0f} s")
        return 0.0


class Beat(Process):
    """`celery -A config beat`: hub.beat.SingleBeatScheduler (settings'
    CELERY_BEAT_SCHEDULER) with the schedule config/periodic_tasks.py declares.
    LOG_TICKS=1 so every "Sending due task" line is logged and can be counted."""

    label = "beat"
    SENT = re.compile(
        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*Sending due task \S+ \(outreach\.dispatch_due\)"
    )

    def __init__(self, loglevel: str, log_path: Path, schedule: Path):
        command = [sys.executable, "-m", "celery", "-A", "config", "beat"]
        command += [f"--loglevel={loglevel}", f"--schedule={schedule}"]
        super().__init__(command, log_path, child_env({"LOG_TICKS": "1"}))

    def launch(self) -> None:
        """Start beat with no leader lock held: a beat of an earlier run that was
        killed leaves its lock behind for LOCK_TTL, and this database is the
        bench's own, so the row is dropped."""
        from hub.beat import LOCK_NAME
        from hub.models import SchedulerLock

        SchedulerLock.objects.filter(name=LOCK_NAME).delete()
        super().launch()

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from launch until beat held the leader lock."""
        from django.utils import timezone

        from hub.beat import LOCK_NAME
        from hub.models import SchedulerLock

        lock = SchedulerLock.objects.filter(name=LOCK_NAME)
        while time.perf_counter() - self.launched < timeout:
            self.check()
            if lock.filter(expires_at__gt=timezone.now()).exists():
                return time.perf_counter() - self.launched
            time.sleep(0.1)
        self.fail(f"beat did not take the leader lock within {timeout:.0f} s")
        return 0.0

    def dispatch_ticks(self) -> list[float]:
        """When beat sent outreach.dispatch_due, as epoch seconds (its log's
        local-time stamps; this machine's clock)."""
        import datetime as dt

        stamps = []
        for match in self.SENT.finditer(self.text()):
            when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            stamps.append(when.timestamp())
        return stamps


class SmtpSink(Process):
    """The SMTP server of the smtp scenario, in a process of its own (so its
    event loop does not share this process's GIL): it answers each DATA after
    `delay` seconds and appends "<epoch> <connection> <Message-ID>" to
    `record` per message it accepted, before answering 250."""

    label = "smtp sink"

    def __init__(self, delay: float, record: Path, log_path: Path):
        self.record = record
        command = [sys.executable, str(SINK_SCRIPT), "--delay", str(delay)]
        command += ["--record", str(record)]
        super().__init__(command, log_path, child_env())
        self.port = 0

    def start(self, timeout: float = 30) -> float:
        ready = self.record.with_suffix(".port")
        ready.unlink(missing_ok=True)
        self.command += ["--ready", str(ready)]
        self.launch()
        while time.perf_counter() - self.launched < timeout:
            self.check()
            if ready.exists() and ready.read_text().strip():
                self.port = int(ready.read_text())
                return time.perf_counter() - self.launched
            time.sleep(0.05)
        self.fail(f"the SMTP sink did not listen within {timeout:.0f} s")
        return 0.0

    def received(self) -> list[tuple[float, int, str]]:
        """(epoch, connection number, Message-ID) of every message accepted so
        far, in order."""
        found = []
        try:
            lines = self.record.read_text(errors="replace").splitlines()
        except OSError:
            return []
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) == 3:
                found.append((float(parts[0]), int(parts[1]), parts[2]))
        return found


def log_to_file(path: Path) -> None:
    """This process logs as configured (LOG_LEVEL, one line per transition), to
    a file in the temporary DATA_DIR instead of the terminal."""
    import logging

    stream = path.open("a")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def flush_redis() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
