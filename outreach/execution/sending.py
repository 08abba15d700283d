"""A batch's provider calls, made concurrently on send threads.

Why threads, not asyncio: the calls are made by blocking libraries we already
trust (smtplib through Django's email backends, anymail's requests sessions,
httpx for Twilio and webhooks), and a provider call is almost all waiting on a
socket, which releases the GIL. A thread pool runs them as they are; asyncio
would need a second, async copy of every client. The threads never touch the
database: executors prepare on the worker's main thread and record there
afterwards (outreach.executors.SendingExecutor), so a worker process holds one
database connection whatever its send concurrency.

- **Concurrency.** One pool per worker process, WORKER_SEND_CONCURRENCY threads
  (default 64), created on first use in the process (a forked child never
  inherits its parent's threads).
- **Sessions.** The sends of one `session_key` (an identity, for email) are
  cut into chunks of at most ceil(batch / concurrency); a chunk has one session
  (one SMTP connection serving its messages, reopened by the session after an
  error). The chunks are dealt to at most `concurrency` tasks on the pool,
  balanced by length (chunks_for).
- **Provider gates.** Each provider has a cap on concurrent calls in this
  process (PROVIDER_MAX_CONCURRENCY, e.g. `twilio=16`; default the pool size),
  so a batch cannot exceed a provider's rate limit by opening more connections.
  A 429's Retry-After pauses the provider, not only the action: sends of that
  provider not yet made wait, are not attempted, and go back to `scheduled` at
  the end of the pause. The pause is shared with the other workers through the
  cache (Redis when REDIS_URL is set) and read when a batch starts.
- **Deadlines.** No send of a batch starts later than PROVIDER_TIMEOUT_SECONDS
  after the batch's first; a send not started by then goes back to `scheduled`
  without counting as a try. Each call has the provider timeout on its socket;
  the batch waits at most that long again for calls in flight. A call still not
  back after that (a provider that ignores timeouts) is left to its lease: the
  reclaimer marks it lost and requeues it, as after a crash.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from config.queue import ExecutionError, TransientError
from outreach.executors import Prepared, SendingExecutor, Session

logger = logging.getLogger("outreach.execution")

PAUSE_KEY = "outreach:provider-pause:{}"


# --- per-process state -------------------------------------------------------------
class ProviderGate:
    """One provider's cap on concurrent calls and its Retry-After pause."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.slots = threading.BoundedSemaphore(limit)
        self.lock = threading.Lock()
        self.paused_until = 0.0  # time.time()

    def pause(self, seconds: float) -> None:
        until = time.time() + seconds
        with self.lock:
            if until <= self.paused_until:
                return
            self.paused_until = until
        logger.warning("provider %s asked to wait %.1fs (429): paused", self.name, seconds)
        try:
            cache.set(PAUSE_KEY.format(self.name), until, timeout=math.ceil(seconds) + 1)
        except Exception:  # the cache is an optimisation; this process still waits
            logger.exception("provider pause: could not share it through the cache")

    def learn(self, until: float | None) -> None:
        if until:
            with self.lock:
                self.paused_until = max(self.paused_until, float(until))

    def wait_left(self) -> float:
        return max(0.0, self.paused_until - time.time())


_state_lock = threading.Lock()
_state: dict[str, Any] = {"pid": None, "pool": None, "gates": {}}


def _process_state() -> dict[str, Any]:
    with _state_lock:
        if _state["pid"] != os.getpid():
            _state.update(pid=os.getpid(), pool=None, gates={})
        return _state


def pool() -> ThreadPoolExecutor:
    state = _process_state()
    with _state_lock:
        if state["pool"] is None:
            state["pool"] = ThreadPoolExecutor(
                max_workers=settings.WORKER_SEND_CONCURRENCY, thread_name_prefix="send"
            )
        return state["pool"]


def gate(provider: str) -> ProviderGate:
    state = _process_state()
    with _state_lock:
        found = state["gates"].get(provider)
        if found is None:
            limit = settings.PROVIDER_MAX_CONCURRENCY.get(
                provider, settings.WORKER_SEND_CONCURRENCY
            )
            found = state["gates"][provider] = ProviderGate(provider, limit)
        return found


def gates_refresh(providers: Iterable[str]) -> None:
    """Learn the pauses other workers shared (one cache round trip)."""
    names = sorted(set(providers))
    if not names:
        return
    try:
        shared = cache.get_many([PAUSE_KEY.format(name) for name in names])
    except Exception:
        logger.exception("provider pause: could not read the cache")
        return
    for name in names:
        gate(name).learn(shared.get(PAUSE_KEY.format(name)))


# --- one batch's sends -------------------------------------------------------------
@dataclass
class Job:
    """One prepared provider call of a batch, and what became of it."""

    key: Any  # the caller's handle (the batch item)
    executor: SendingExecutor
    prepared: Prepared
    # pending → announced → sending → answered, or → skipped
    state: str = "pending"
    answer: Any = None
    error: ExecutionError | None = None
    # For a skipped job: seconds until it may be tried again, and why.
    retry_in: float = 0.0
    skip_reason: str = ""
    # How long the provider call took (None: not made); the metrics' hub_send_seconds.
    seconds: float | None = None
    go: threading.Event = field(default_factory=threading.Event)
    recorded: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Batch:
    deadline: float  # time.monotonic(): no send starts after it
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False  # set when the batch stops waiting: nothing more starts


# How long the batch's thread lets reports gather before it records them: a
# write per few milliseconds instead of one per call (each call waits for it).
COALESCE_SECONDS = 0.005
DEADLINE_PASSED = "the batch's send deadline passed before it was sent"


def _skip(job: Job, reason: str, retry_in: float = 0.0) -> None:
    job.state, job.skip_reason, job.retry_in = "skipped", reason, retry_in


def _report_answer(batch: _Batch, job: Job) -> None:
    with batch.lock:
        job.state = "answered"
    batch.events.put(("done", job))


def _announce(batch: _Batch, job: Job, answered: Job | None = None) -> bool:
    """Ask the batch's thread to record that this call starts; False: skip it
    (deadline, pause, batch closed, or the start could not be recorded).

    `answered` is this thread's previous call, answered but not yet reported: its
    answer and this start go to the batch's thread together and are recorded in
    the same round (the answer first), so a message costs the thread one wait
    for the database, not two. The thread makes this call only once both are
    recorded: it never has more than one call whose outcome the database lacks."""
    if answered is not None:
        _report_answer(batch, answered)
    wait = gate(job.prepared.provider).wait_left()
    with batch.lock:
        go = job.state == "pending"
        if go and (batch.closed or time.monotonic() > batch.deadline):
            _skip(job, DEADLINE_PASSED)
            go = False
        elif go and wait > 0:
            _skip(job, f"{job.prepared.provider} asked to wait (429 Retry-After)", wait)
            go = False
        if go:
            job.state = "announced"
    if go:
        batch.events.put(("start", job))
    if answered is not None:
        answered.recorded.wait(settings.PROVIDER_TIMEOUT_SECONDS)
    if not go:
        return False
    job.go.wait(settings.PROVIDER_TIMEOUT_SECONDS)
    with batch.lock:
        if job.state == "announced":  # nobody answered: the batch stopped waiting
            _skip(job, DEADLINE_PASSED)
        return job.state == "sending"


def _run_chunk(batch: _Batch, chunk: list[Job]) -> None:
    session: Session | None = None
    answered: Job | None = None  # the previous call, answered, not yet reported
    try:
        for job in chunk:
            started = _announce(batch, job, answered)
            answered = None
            if not started:
                continue
            provider = gate(job.prepared.provider)
            try:
                with provider.slots:
                    if session is None:
                        session = job.executor.open_session(job.prepared)
                    began = time.monotonic()
                    try:
                        job.answer = session.send(job.prepared.payload)
                    finally:
                        job.seconds = time.monotonic() - began
            except ExecutionError as exc:
                job.error = exc
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(exc, TransientError) and retry_after:
                    provider.pause(retry_after)
            except Exception as exc:  # a bug or an unmapped library error: retried, logged
                logger.exception("send crashed (%s)", job.prepared.provider)
                job.error = TransientError(f"{type(exc).__name__}: {exc}")
            # Reported with the next call's start (or below, after the last call):
            # the next send waits until this answer is recorded.
            answered = job
    finally:
        if answered is not None:
            _report_answer(batch, answered)
            answered.recorded.wait(settings.PROVIDER_TIMEOUT_SECONDS)
        if session is not None:
            try:
                session.close()
            except Exception:
                logger.exception("closing a %s session failed", chunk[0].prepared.provider)


def chunks_for(jobs: list[Job], concurrency: int) -> list[list[list[Job]]]:
    """The batch's work for each send thread: a list of chunks, each the jobs of
    one session key (one session), at most ceil(jobs / concurrency) long. The
    chunks are dealt to `concurrency` threads longest first, each to the
    least loaded thread, so fifty mailboxes of five messages on 32 threads take
    eight sends' time, not ten."""
    size = max(1, math.ceil(len(jobs) / max(concurrency, 1)))
    by_key: dict[Any, list[Job]] = {}
    for job in jobs:
        by_key.setdefault(job.prepared.session_key, []).append(job)
    chunks = [g[i : i + size] for g in by_key.values() for i in range(0, len(g), size)]
    threads: list[list[list[Job]]] = [[] for _ in range(min(concurrency, len(chunks)))]
    loads = [0] * len(threads)
    for chunk in sorted(chunks, key=len, reverse=True):
        least = loads.index(min(loads))
        threads[least].append(chunk)
        loads[least] += len(chunk)
    return threads


def _run_thread(batch: _Batch, chunks: list[list[Job]]) -> None:
    for chunk in chunks:
        _run_chunk(batch, chunk)


RoundRecorder = Callable[[list[Job], list[Job]], None]


def jobs_send(jobs: list[Job], *, record: RoundRecorder) -> list[Job]:
    """Make the jobs' calls on the process's send threads. This thread (it has
    the database) records, a few at a time while the threads wait, the answers
    that came and the starts of the calls about to be made: `record(answers,
    starts)`, one transaction for both. A call is made only once its start is
    committed, and a thread's next call only once its previous answer is: a
    worker killed at any moment has at most one unrecorded call per send
    thread. Returns the jobs still in flight when the batch stopped waiting
    (their outcome is unknown: leave them to the lease)."""
    if not jobs:
        return []
    gates_refresh(job.prepared.provider for job in jobs)
    timeout = settings.PROVIDER_TIMEOUT_SECONDS
    batch = _Batch(deadline=time.monotonic() + timeout)
    executor = pool()  # also for one thread: the pool bounds the process's calls
    futures = [
        executor.submit(_run_thread, batch, chunks)
        for chunks in chunks_for(jobs, settings.WORKER_SEND_CONCURRENCY)
    ]
    give_up = time.monotonic() + 2 * timeout + 1
    while True:
        try:
            events = [batch.events.get(timeout=0.05)]
        except queue.Empty:
            if all(f.done() for f in futures) or time.monotonic() > give_up:
                break
            continue
        time.sleep(COALESCE_SECONDS)  # let more threads report: fewer, larger writes
        while True:
            try:
                events.append(batch.events.get_nowait())
            except queue.Empty:
                break
        _deliver(
            batch,
            [job for kind, job in events if kind == "done"],
            [job for kind, job in events if kind == "start"],
            record,
        )
    with batch.lock:
        batch.closed = True
        for job in jobs:
            if job.state in ("pending", "announced"):
                _skip(job, DEADLINE_PASSED)
            job.go.set()
            job.recorded.set()
        stuck = [job for job in jobs if job.state == "sending"]
    for job in stuck:
        logger.error(
            "a %s call outlived the batch (%ss): left to its lease", job.prepared.provider, give_up
        )
    return stuck


def _deliver(batch: _Batch, answers: list[Job], starts: list[Job], record: RoundRecorder) -> None:
    """Record a round (answers and starts in one transaction), then let the
    threads waiting on it go: only after the commit, so no call is made whose
    start the database lacks."""
    try:
        record(answers, starts)
        recorded = True
    except Exception:
        logger.exception("could not record %d answers and %d starts", len(answers), len(starts))
        recorded = False
    with batch.lock:
        for job in answers:
            job.recorded.set()
        for job in starts:
            if job.state == "announced":
                if recorded and not batch.closed:
                    job.state = "sending"
                else:
                    _skip(job, "its start could not be recorded")
            job.go.set()
