"""`make run`'s processes stop cleanly on SIGTERM: the worker finishes a warm
shutdown by itself, nothing is SIGKILLed and no pool process dies of the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _wait_for(proc: subprocess.Popen, log: Path, needles: tuple[str, ...], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if all(n in text for n in needles):
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"never saw {needles} in:\n{log.read_text(errors='replace')[-3000:]}")


def test_it_stops_worker_and_beat_cleanly_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env |= {
        "DATA_DIR": str(tmp_path),
        "DEBUG": "1",
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=300,
    )
    log = tmp_path / "procfile.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "config.procfile", "-f", "Procfile", "start", "worker", "beat"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Beat is up once its scheduler took the leader lock: "beat: Starting"
            # comes before the scheduler's set-up, and a SIGTERM in there makes
            # Celery build a second scheduler while the first is importing.
            _wait_for(proc, log, ("ready.", "the leader lock"), timeout=120)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    # On failure, the log without the traceback's caret-only lines (beat logs a
    # traceback one line per write; the carets alone filled the message before).
    shown = "\n".join(line for line in text.splitlines() if line.rsplit("]", 1)[-1].strip(" ^|"))[
        -6000:
    ]
    assert "worker.1 stopped (rc=0)" in text, shown
    assert "beat.1 stopped (rc=0)" in text, shown
    assert "SIGKILL" not in text
    assert "exited with 'signal" not in text
