"""config.progress: a redrawn bar on a terminal, a line per step in logs."""

from __future__ import annotations

import io

from config.progress import Progress, progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_prints_a_line_every_n_percent():
    out = io.StringIO()
    with progress(total=200, label="Importing", stream=out, every_percent=25) as bar:
        for _ in range(200):
            bar.advance()

    assert out.getvalue().splitlines() == [
        "Importing: 0% (1/200)",
        "Importing: 25% (50/200)",
        "Importing: 50% (100/200)",
        "Importing: 75% (150/200)",
        "Importing: 100% (200/200)",
    ]


def test_a_terminal_gets_one_redrawn_line_ending_with_the_time():
    out = Tty()
    bar = Progress(total=4, label="Loading", stream=out)
    for _ in range(4):
        bar.advance()
    bar.close()

    text = out.getvalue()
    assert text.startswith("\rLoading  [")
    assert "\n" not in text[:-1]  # one line, redrawn with carriage returns
    assert "100%  4/4" in text and text.endswith(" s\n")


def test_an_empty_total_is_complete():
    out = io.StringIO()
    with progress(total=0, label="Nothing", stream=out):
        pass
    assert out.getvalue() == "Nothing: 100% (0/0)\n"
