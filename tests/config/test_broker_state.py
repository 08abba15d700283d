"""The embedded broker keeps all of its state under DATA_DIR, so running the
service leaves the checkout as git has it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty

from django.conf import settings
from kombu import Connection

PUBLISH = """
import django
django.setup()
from config.celery import app
with app.connection_for_write() as conn:
    app.send_task("outreach.dispatch_due", connection=conn)
"""


def test_it_keeps_the_filesystem_brokers_exchanges_under_data_dir(tmp_path):
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env |= {
        "DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    subprocess.run([sys.executable, "-c", PUBLISH], cwd=cwd, env=env, check=True, timeout=60)

    control = data_dir / "broker" / "control"
    assert (control / "celery.exchange").is_file()
    assert list(cwd.iterdir()) == []
    assert not (Path(settings.BASE_DIR) / "control").exists()


def test_a_reader_never_takes_a_message_before_it_is_whole(tmp_path):
    """A worker polling while a message is written gets it whole or not at all
    (kombu's own `_put` wrote under the final name, and a poll in between read
    an empty file)."""

    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    count, got, errors = 300, [], []
    payload = {"body": "x" * 50_000}

    def read() -> None:
        with Connection(transport="config.broker:Transport", transport_options=options) as conn:
            channel = conn.default_channel
            while len(got) < count:
                try:
                    got.append(channel._get("q"))
                except Empty:
                    continue
                except Exception as exc:  # a half-written message: a decode error
                    errors.append(exc)
                    return

    reader = threading.Thread(target=read)
    reader.start()
    with Connection(transport="config.broker:Transport", transport_options=options) as conn:
        channel = conn.default_channel
        for _ in range(count):
            channel._put("q", payload)
    reader.join(timeout=60)
    assert errors == []
    assert len(got) == count and all(m == payload for m in got)
    assert not list(folder.glob("*.part"))
