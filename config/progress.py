"""Progress of long work in a terminal: management commands and `make run`'s demo load.

    with progress(total=len(rows), label="Loading") as bar:
        for row in rows:
            ...
            bar.advance()

On a terminal (stderr is a TTY) one line is redrawn in place, at most ten times a
second: ``Loading  [########------------]  40%  400/1,000``. Otherwise (a log
file, honcho's prefixed output, CI) a plain line is printed every `every_percent`
(and at the end), so logs stay readable. No dependency (tqdm is not installed).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class Progress:
    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        every_percent: int = 10,
        tty: bool | None = None,
    ) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_percent = max(1, every_percent)
        self.done = 0
        self._last_draw = 0.0
        self._last_step = -1
        self._started = time.monotonic()

    def _percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._show()

    def set(self, done: int) -> None:
        self.done = done
        self._show()

    def _show(self, final: bool = False) -> None:
        percent = self._percent()
        if self.tty:
            now = time.monotonic()
            if not final and now - self._last_draw < REDRAW_SECONDS and self.done < self.total:
                return
            self._last_draw = now
            filled = BAR_WIDTH * percent // 100
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(
                f"\r{self.label}  [{bar}] {percent:3d}%  {self.done:,}/{self.total:,}"
            )
            if final:
                self.stream.write(f"  {time.monotonic() - self._started:.1f} s\n")
            self.stream.flush()
            return
        step = percent // self.every_percent
        if step != self._last_step or final:
            if final and step == self._last_step:
                return  # the 100% line is already out
            self._last_step = step
            self.stream.write(f"{self.label}: {percent}% ({self.done:,}/{self.total:,})\n")
            self.stream.flush()

    def close(self) -> None:
        self._show(final=True)


@contextmanager
def progress(
    total: int, label: str, stream: TextIO | None = None, every_percent: int = 10
) -> Iterator[Progress]:
    bar = Progress(total, label, stream=stream, every_percent=every_percent)
    try:
        yield bar
    finally:
        bar.close()
