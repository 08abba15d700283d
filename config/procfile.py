"""`make run`'s process manager: honcho, with a warm shutdown for the worker.

Honcho stops a Procfile by sending SIGTERM to each process's whole process
group, then SIGKILLs what still runs 5 s later. Both hurt a Celery worker: its
pool processes get the SIGTERM too and die mid-send ("exited with signal 15"),
and a warm shutdown may need longer than 5 s, since it lets running sends
finish and a send may take up to PROVIDER_TIMEOUT_SECONDS. An attempt killed
half-way is lost and the action is sent again once its lease expires.

So here SIGTERM goes to each process itself (the Procfile `exec`s, so that is
gunicorn's master, Celery's main process or beat), which stops its own
children in order; the SIGKILL that follows STOP_GRACE_SECONDS (default 30)
later still goes to the whole group, so nothing is left behind.

    python -m config.procfile -f Procfile start web worker beat

Other process managers want the same: systemd's `KillMode=mixed`, for example.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

from honcho import compat, manager
from honcho.command import main


def terminate_process(self: compat.ProcessManager, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ESRCH):
            raise


compat.ProcessManager.terminate = terminate_process
manager.KILL_WAIT = int(os.environ.get("STOP_GRACE_SECONDS", "30"))

if __name__ == "__main__":
    sys.exit(main())
