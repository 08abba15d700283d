"""The embedded broker: kombu's filesystem transport, tuned for `make run`.

Celery's worker loop waits for messages in slices of 2 s and, once asked to
stop, waits one more slice before it stops; with a polling transport that made
a SIGTERM take 5-9 s, past the 5 s a process manager (honcho) allows before it
kills. Shorter slices let the worker notice a shutdown within a second; an idle
worker still only looks at its folder every `polling_interval`.

kombu's `_put` creates the message file under its final name and then writes
it, while `_get` takes any file with a matching name without a lock: a worker
polling at that instant moved an empty or half-written file and died on
`JSONDecodeError` (seen under `make run` with beat ticking four times a
second). Here a message is written under a name `_get` ignores and renamed into
place once complete: a rename within one folder is atomic, so a reader sees the
whole message or nothing.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

WAIT_SLICE_SECONDS = 0.5


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`, whole or not at all (see the module doc)."""
        # kombu's own name: time-ordered, and `<queue>.msg` after the first dot.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # `_get` matches on the whole suffix: never taken
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        timeout = WAIT_SLICE_SECONDS if timeout is None else min(timeout, WAIT_SLICE_SECONDS)
        return super().drain_events(connection, timeout=timeout)
