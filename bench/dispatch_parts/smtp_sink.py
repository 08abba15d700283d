"""The smtp scenario's SMTP server: aiosmtpd on 127.0.0.1, a process of its own.

    python bench/dispatch_parts/smtp_sink.py --delay 0.1 --record FILE --ready FILE

It answers every DATA after `--delay` seconds (`await asyncio.sleep`, so the
messages of many connections wait at once, as a remote server's round trips
do) and accepts everything else at once. Before answering 250 it appends
"<epoch seconds> <connection number> <Message-ID>" to `--record`, so the
bench can tell that each message arrived exactly once, and how many SMTP
sessions carried them; a message without a Message-ID is recorded as "-".
It writes its port to `--ready` once it listens, and stops on SIGTERM.

It runs in its own process so its event loop does not share the bench's (or a
worker's) GIL, and parses no more of a message than its header block.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


class Recorder:
    def __init__(self, path: Path, delay: float):
        self.delay = delay
        self.connections = itertools.count(1)
        self.file = path.open("ab", buffering=0)  # one write per message, nothing held back

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        data = envelope.original_content or b""
        headers = data.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(headers)
        message_id = found.group(1) if found else b"-"
        if not hasattr(session, "bench_number"):  # the connection's first message
            session.bench_number = next(self.connections)
        line = b"%.6f %d %s\n" % (time.time(), session.bench_number, message_id)
        self.file.write(line)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each 250")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command
    recorder = Recorder(args.record, args.delay)
    controller = None
    for _ in range(5):  # a free port can be taken between probing and binding
        port = free_port()
        candidate = Controller(
            recorder, hostname="127.0.0.1", port=port, server_hostname="bench-sink"
        )
        try:
            candidate.start()
        except OSError:
            continue
        controller = candidate
        break
    if controller is None:
        sys.exit("smtp sink: no free port")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    args.ready.write_text(str(port))
    print(f"smtp sink on 127.0.0.1:{port}, {args.delay:g} s per message", flush=True)
    while not stop.wait(0.5):
        pass
    controller.stop()
    recorder.file.close()


if __name__ == "__main__":
    main(sys.argv[1:])
