"""The embedded broker: kombu's filesystem transport, tuned for `make run`.

Celery's worker loop waits for messages in slices of 2 s and, once asked to
stop, waits one more slice before it stops; with a polling transport that made
a SIGTERM take 5-9 s, past the 5 s a process manager (honcho) allows before it
kills. Shorter slices let the worker notice a shutdown within a second; an idle
worker still only looks at its folder every `polling_interval`.
"""

from __future__ import annotations

from kombu.transport import filesystem

WAIT_SLICE_SECONDS = 0.5


class Transport(filesystem.Transport):
    def drain_events(self, connection, timeout=None):
        timeout = WAIT_SLICE_SECONDS if timeout is None else min(timeout, WAIT_SLICE_SECONDS)
        return super().drain_events(connection, timeout=timeout)
