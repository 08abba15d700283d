"""The embedded broker keeps all of its state under DATA_DIR, so running the
service leaves the checkout as git has it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

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
