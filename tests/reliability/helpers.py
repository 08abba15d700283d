"""Process management for the reliability tests.

Every process (Celery worker, celery beat, the dispatcher loop, a private
redis-server) runs in its own session, so its whole process group (a prefork
worker and its children) can be stopped or SIGKILLed at once. Its output goes
to a log file under the test's tmp_path; `Cluster.report()` prints the tails,
which pytest shows when the test fails.

Run as a module, this file is the dispatcher loop the tests start as a real
process (same environment as the workers, so it publishes to the broker under
test)::

    python -m tests.reliability.helpers dispatch 0.2
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    check: Callable[[], None] | None = None,
) -> Any:
    """Poll `predicate` until it returns something truthy; AssertionError on timeout.
    `check` runs every round (e.g. to fail early when a process died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def group_pids(pgid: int) -> set[int]:
    """The pids of the live processes in process group `pgid` (Linux /proc)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


class Proc:
    """One child process in its own session, its output in `log_path`."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, kind: str = ""
    ) -> None:
        self.name = name
        self.kind = kind or name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            self.popen = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        self.pgid = self.pid  # start_new_session: the child leads its own group
        self.expect_exit = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> set[int]:
        return group_pids(self.pgid)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs anywhere. Returns
        once every process of the group is gone."""
        self.expect_exit = True
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)
        wait_until(lambda: not self.pids(), timeout=10, what=f"{self.name} to die", interval=0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the leader (a Celery warm shutdown), then SIGKILL what is left."""
        self.expect_exit = True
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)  # prefork children, or a hung leader
        with contextlib.suppress(subprocess.TimeoutExpired):  # only if the kernel is stuck
            self.popen.wait(timeout=10)

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text()))

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


class RedisServer:
    """A private redis-server on a free port (no persistence), so restarting it
    disturbs nobody else's Redis."""

    def __init__(self, log_dir: Path, name: str = "redis") -> None:
        self.log_dir = log_dir
        self.name = name
        self.port = free_port()
        self.proc: Proc | None = None
        self.starts = 0

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.starts += 1
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.log_dir),
        ]  # fmt: skip
        self.proc = Proc(f"{self.name}-{self.starts}", argv, dict(os.environ), self.log_dir)
        wait_until(self.ping, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: everything in it (queued tasks, unacked messages) is gone."""
        assert self.proc is not None
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        self.proc.expect_exit = True
        try:
            self.proc.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.shutdown()


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for django.db.connection.settings_dict (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def redis_db_url(url: str, db: int) -> str:
    """`url` with its database number replaced by `db`."""
    match = re.match(r"^(rediss?://[^/?#]*)(/\d*)?(.*)$", url)
    assert match, url
    return f"{match.group(1)}/{db}{match.group(3)}"


class Cluster:
    """The processes of one test: workers, beats, the dispatcher loop. Every one
    is stopped by `stop_all()` (the fixture calls it whatever happens)."""

    def __init__(self, *, tmp_path: Path, database_url: str, broker_url: str, smtp_port: int):
        self.log_dir = tmp_path / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.broker_url = broker_url
        self.smtp_port = smtp_port
        self.overrides: dict[str, str] = {}
        self.restart_workers = False
        self.restarts: list[str] = []
        self.procs: list[Proc] = []
        self.redis_servers: list[RedisServer] = []

    # --- environment -------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("CELERY_", "ACTION_", "PYTEST_")):
                del env[name]
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.broker_url,
                "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                "SECRET_KEY": os.environ["SECRET_KEY"],
                "FIELD_ENCRYPTION_KEYS": os.environ["FIELD_ENCRYPTION_KEYS"],
                "HTTPS": "0",
                "DEBUG": "0",
                "DATA_DIR": str(self.data_dir),
                "LOG_LEVEL": "WARNING",
                "ACTION_RETRY_BASE_SECONDS": "1",
                "ACTION_RETRY_MAX_SECONDS": "2",
                "PROVIDER_TIMEOUT_SECONDS": "10",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.overrides)
        env.update(extra)
        return env

    def private_redis(self) -> RedisServer:
        server = RedisServer(self.log_dir, name=f"redis{len(self.redis_servers) + 1}").start()
        self.redis_servers.append(server)
        return server

    # --- processes ---------------------------------------------------------
    def start(self, name: str, argv: list[str], *, kind: str = "", **env: str) -> Proc:
        proc = Proc(name, argv, self.env(**env), self.log_dir, kind=kind)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *, concurrency: int, **env: str) -> Proc:
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--loglevel=WARNING", f"--concurrency={concurrency}", "--pool=prefork",
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        return self.start(name, argv, kind="worker", **env)

    def beat(self, name: str, **env: str) -> Proc:
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
            f"--schedule={self.data_dir / f'{name}-schedule'}",
        ]  # fmt: skip
        # LOG_TICKS: every "Sending due task" line, which the two-beats test counts.
        return self.start(name, argv, kind="beat", **{"LOG_LEVEL": "INFO", "LOG_TICKS": "1", **env})

    def dispatcher(self, name: str = "dispatcher", *, interval: float = 0.2, **env: str) -> Proc:
        argv = [sys.executable, "-m", "tests.reliability.helpers", "dispatch", str(interval)]
        return self.start(name, argv, kind="dispatcher", **env)

    def ticker(self, task: str, name: str = "ticker", *, interval: float = 0.2, **env: str) -> Proc:
        """Publish `task` every `interval` seconds, as beat would every second."""
        argv = [sys.executable, "-m", "tests.reliability.helpers", "tick", task, str(interval)]
        return self.start(name, argv, kind="dispatcher", **env)

    def check_alive(self) -> None:
        """Fail at once, with its log, when a process died that should not have.

        With `restart_workers` on, a worker that exited is started again instead,
        as a process manager (systemd, a PaaS, Kubernetes) would: when the broker
        vanishes, kombu can raise while acking and the worker process exits. What
        the tests check is that no action is lost or sent twice meanwhile."""
        for proc in list(self.procs):
            if proc.expect_exit or proc.alive():
                continue
            if self.restart_workers and proc.kind == "worker":
                proc.expect_exit = True
                self.restarts.append(f"{proc.name} exited with {proc.popen.returncode}")
                replacement = Proc(
                    f"{proc.name}-r{len(self.restarts)}",
                    proc.argv,
                    proc.env,
                    self.log_dir,
                    kind="worker",
                )
                self.procs.append(replacement)
                continue
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")

    def stop_all(self) -> None:
        # Dispatchers and beats first, so nothing new is enqueued while workers stop.
        order = sorted(self.procs, key=lambda p: p.kind == "worker")
        for proc in order:
            proc.stop()
        for server in self.redis_servers:
            server.stop()

    def report(self) -> None:
        for proc in self.procs:
            print(f"\n----- {proc.name} (pid {proc.pid}) {proc.log_path} -----\n{proc.tail()}")


# --- data and checks (these need Django, so they import lazily) --------------
def email_identities(*, workspace, owner, count: int, tag: str) -> list:
    """`count` email identities of `workspace` (no sending window, no daily
    limit), for runs that spread their sends over several mailboxes."""
    from outreach import services

    return [
        services.identity_create(
            workspace=workspace,
            channel="email",
            address=f"{tag}{n}@reliability.example.com",
            display_name=f"Sender {n}",
            owner=owner,
        )
        for n in range(count)
    ]


def create_email_actions(
    *,
    workspace,
    owner,
    count: int,
    tag: str,
    identity=None,
    identities: Sequence | None = None,
) -> list[int]:
    """`count` due send_email actions to distinct recipients, from `identity` or
    round-robin over `identities` (so every batch holds several mailboxes). The
    first goes through outreach.services.action_create (so its params are the
    validated, normalised shape); the rest are bulk-inserted copies with the
    model's own defaults for public_id and uuid."""
    from django.utils import timezone

    from accounts.actors import Actor
    from outreach import services
    from outreach.models import Action, ActionStatus

    assert (identity is None) != (identities is None), "pass identity or identities"
    senders = [identity] if identities is None else list(identities)
    params = {"to": f"{tag}0@example.com", "subject": f"Hello {tag}", "body": "Hi there!"}
    first = services.action_create(
        workspace=workspace,
        actor=Actor.for_user(owner),
        type="send_email",
        params=params,
        identity=senders[0],
        require_approval=False,
    )
    assert first.status == ActionStatus.SCHEDULED
    now = timezone.now()
    rest = [
        Action(
            workspace=workspace,
            type=first.type,
            params={**first.params, "to": f"{tag}{n}@example.com"},
            identity=senders[n % len(senders)],
            owner=owner,
            status=ActionStatus.SCHEDULED,
            scheduled_time=now,
        )
        for n in range(1, count)
    ]
    Action.objects.bulk_create(rest, batch_size=500)
    return [first.pk, *(action.pk for action in rest)]


def pk_ranges(ids: list[int]):
    """A Q matching exactly `ids`, as pk ranges: bulk-created ids are consecutive,
    so ten thousand of them are one BETWEEN. (`pk__in` with 10,000 parameters
    costs about 150 ms of this process's CPU per query; polled every 0.25 s it
    starves the SMTP server thread running in the same process.)"""
    from django.db.models import Q

    ordered = sorted(set(ids))
    query = Q(pk__in=[])
    start = previous = None
    for pk in [*ordered, None]:
        if previous is not None and pk == previous + 1:
            previous = pk
            continue
        if start is not None:
            query |= Q(pk__range=(start, previous))
        start = previous = pk
    return query


def status_counts(action_ids: list[int]) -> dict[str, int]:
    from django.db.models import Count

    from outreach.models import Action

    rows = (
        Action.objects.filter(pk_ranges(action_ids)).values_list("status").annotate(n=Count("id"))
    )
    return dict(rows)


def wait_all_completed(
    action_ids: list[int], *, timeout: float, cluster: Cluster, stall: float | None = None
) -> float:
    """Wait until every action is completed; returns the seconds it took.

    With `stall`, also fail as soon as no action completed for that many
    seconds: a long run (thousands of actions, whichever engine) gets a
    generous `timeout` without a stuck one waiting all of it out."""
    started = time.monotonic()
    last: dict[str, int] = {}
    progress = (0, started)  # (completed, when that count was first seen)

    def done() -> bool:
        nonlocal last, progress
        last = status_counts(action_ids)
        completed = last.get("completed", 0)
        if completed != progress[0]:
            progress = (completed, time.monotonic())
        elif stall is not None and time.monotonic() - progress[1] > stall:
            raise AssertionError(f"No action completed for {stall:.0f}s")
        return completed == len(action_ids)

    try:
        wait_until(done, timeout=timeout, what="every action completed", check=cluster.check_alive)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; statuses: {last}") from None
    return time.monotonic() - started


def deliveries(smtp_server) -> tuple[Counter, Counter]:
    """(deliveries per X-Outreach-Action-Id, deliveries per Message-ID). Read with
    the server's header-only parse: ten thousand messages in well under a second."""
    messages = smtp_server.messages
    by_action = Counter(str(m.header("X-Outreach-Action-Id")) for m in messages)
    by_message_id = Counter(str(m.header("Message-ID")) for m in messages)
    return by_action, by_message_id


def message_ids_by_action(smtp_server) -> dict[str, set[str]]:
    """The Message-IDs each action's deliveries carried (a resend keeps its id)."""
    found: dict[str, set[str]] = {}
    for message in smtp_server.messages:
        found.setdefault(str(message.header("X-Outreach-Action-Id")), set()).add(
            str(message.header("Message-ID"))
        )
    return found


def assert_one_completed_attempt_each(action_ids: list[int]) -> int:
    """Every action has exactly one completed attempt and none still running;
    returns how many were requeued before their attempt started (for the report)."""
    from outreach.models import ActionAttempt, ActionTransition, AttemptOutcome

    completed = Counter(
        ActionAttempt.objects.filter(
            action_id__in=action_ids, outcome=AttemptOutcome.COMPLETED
        ).values_list("action_id", flat=True)
    )
    assert len(completed) == len(action_ids) and set(completed.values()) == {1}
    assert not ActionAttempt.objects.filter(
        action_id__in=action_ids, outcome=AttemptOutcome.RUNNING
    ).exists()
    return ActionTransition.objects.filter(
        action_id__in=action_ids, reason__startswith="lease expired before the attempt started"
    ).count()


def wait_deliveries_settle(smtp_server, *, quiet: float = 1.5, timeout: float = 15) -> int:
    """Wait until no message arrived for `quiet` seconds (a late duplicate would)."""
    deadline = time.monotonic() + timeout
    seen, since = len(smtp_server.messages), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.2)
        now_seen = len(smtp_server.messages)
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
    return seen


# --- the dispatcher process ------------------------------------------------------
def _dispatch_forever(interval: float) -> None:
    """What beat's outreach.dispatch_due does every second, every `interval`
    seconds, in a loop, until SIGTERM. A failing tick (broker down) is logged and
    the loop goes on, like beat sending the next tick."""
    import django

    django.setup()
    from django.db import close_old_connections

    from outreach.execution import actions_dispatch

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    total = 0
    while not stopping:
        try:
            claims = actions_dispatch()
        except Exception as exc:
            print(f"{time.strftime('%X')} dispatch failed: {type(exc).__name__}: {exc}", flush=True)
            close_old_connections()
        else:
            if claims:
                total += len(claims)
                print(f"{time.strftime('%X')} dispatched {len(claims)} (total {total})", flush=True)
        time.sleep(interval)
    print(f"dispatcher stopping after {total} claims", flush=True)


def _tick_forever(task: str, interval: float) -> None:
    """Beat's tick of one periodic task, every `interval` seconds instead of every
    second, until SIGTERM: publishes `task` (expiring like beat's) for the workers
    to run. A failing publish is logged and the loop goes on."""
    import django

    django.setup()
    from config.celery import app

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    sent = 0
    while not stopping:
        try:
            app.send_task(task, expires=max(2 * interval, 1.0))
        except Exception as exc:
            print(f"{time.strftime('%X')} tick failed: {type(exc).__name__}: {exc}", flush=True)
        else:
            sent += 1
        time.sleep(interval)
    print(f"ticker stopping after {sent} ticks of {task}", flush=True)


USAGE = (
    "usage: python -m tests.reliability.helpers dispatch [interval]\n"
    "       python -m tests.reliability.helpers tick TASK [interval]"
)

if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "dispatch":
        _dispatch_forever(float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
    elif len(sys.argv) >= 3 and sys.argv[1] == "tick":
        _tick_forever(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.2)
    else:
        sys.exit(USAGE)
