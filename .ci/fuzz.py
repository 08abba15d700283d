"""`make fuzz`: schemathesis over the whole OpenAPI schema, against a real server.

    .venv/bin/python .ci/fuzz.py [extra schemathesis run options]

1. Creates a fresh database, FUZZ_DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/outreach_fuzz_<pid>; a sqlite:/// URL works
   too). FUZZ_DATABASE_URL and not DATABASE_URL, so a database exported for
   development is never fuzzed; an existing PostgreSQL database is refused, never
   reused: the fuzzer deletes and revokes whatever it finds. The database and the
   temporary DATA_DIR are removed afterwards unless FUZZ_KEEP=1; after a failure
   the DATA_DIR stays, with the report and the server log.
2. Migrates it and loads the demo (`manage.py seed_demo`), whose API key has
   every scope and belongs to a workspace admin, so every operation is reached.
3. Starts gunicorn (as the Procfile does) on 127.0.0.1:FUZZ_PORT (default: a
   free port) with production-like settings: DEBUG=0, a random SECRET_KEY and
   FIELD_ENCRYPTION_KEYS, HTTPS=0 (plain HTTP on loopback), a temporary DATA_DIR
   holding the filesystem broker (tasks are enqueued there and never run: no
   worker or beat is needed), REDIS_URL unset, the dummy email backend, and
   Twilio and the LinkedIn webhook at a closed local port, and
   OUTBOUND_HTTP_PUBLIC=0: an ApiCall the fuzzer defines and runs reaches no
   host at all (none is allow-listed), so the run never leaves this machine.
4. Waits for /healthz, then runs `schemathesis run` on /api/schema/ with the
   checks not_a_server_error and response_schema_conformance, a fixed seed
   (FUZZ_SEED, default 20251111) and FUZZ_MAX_EXAMPLES test cases per
   operation and phase (default 25). FUZZ_WORKERS (default 2) sets its
   concurrency. Any further arguments go to `schemathesis run` as they are.
5. Prints the number of requests sent, the failures by check and the server's
   logged errors, stops the server and exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from cryptography.fernet import Fernet
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,response_schema_conformance"
DEFAULT_SEED = "20251111"
DEFAULT_MAX_EXAMPLES = "25"
DEFAULT_WORKERS = "2"
# accounts/demo.py's workspace and admin, where seed_demo puts its key.
DEMO_WORKSPACE = "Demo workspace"
DEMO_EMAIL = "admin@example.com"
# A port nothing listens on: provider calls fail at once instead of reaching out.
CLOSED = "http://127.0.0.1:9"


def log(message: str) -> None:
    print(f"fuzz: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_admin(url: str):
    """A psycopg connection to the server's `postgres` database, and the name of
    the database `url` names."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    return psycopg.connect(admin, autocommit=True), name


def create_database(url: str) -> None:
    conn, name = postgres_admin(url)
    with conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            raise SystemExit(
                f"fuzz: database {name!r} exists; the fuzzer needs a fresh one "
                "(it deletes and revokes what it finds): name another in FUZZ_DATABASE_URL."
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    conn, name = postgres_admin(url)
    with conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        HTTPS="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        EMAIL_URL="dummymail://",
        TWILIO_BASE_URL=CLOSED,
        LINKEDIN_WEBHOOK_URL=f"{CLOSED}/linkedin",
        # Generated definitions name any host: refuse them all, before DNS.
        OUTBOUND_HTTP_PUBLIC="0",
        OUTBOUND_HTTP_ALLOWLIST="",
        # The /v2 cost budget would answer most of the run 429 and leave the
        # Salesloft facade unexplored; its limiter has tests of its own.
        SALESLOFT_RATE_LIMIT_PER_MINUTE="100000000",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def write_config(data_dir: Path, env: dict[str, str]) -> None:
    """schemathesis.toml in the run's folder (its working directory).

    The all-scope key may revoke any key of its workspace, itself included, and
    the fuzzer learns key ids from GET /v1/api-keys: once it revokes the key it
    runs with, every later request is a 401 and the run tests nothing. So the
    revoke operation always targets a key made for it (its first call revokes,
    the rest answer 409)."""
    secret = manage(
        env,
        "create_api_key",
        "--workspace",
        DEMO_WORKSPACE,
        "--email",
        DEMO_EMAIL,
        "--scopes",
        "actions:read",
        "--name",
        "fuzz: to be revoked",
    ).strip()
    key_id = "key_" + secret.split("_")[1]
    (data_dir / "schemathesis.toml").write_text(
        "[[operations]]\n"
        'include-name = "POST /v1/api-keys/{id}/revoke"\n'
        f'parameters = {{ "path.id" = "{key_id}" }}\n'
    )


def wait_for_health(url: str, server: subprocess.Popen, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: the server exited with {server.returncode} before /healthz")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"fuzz: {url}/healthz did not answer 200 within {timeout:.0f}s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def summarise(ndjson: Path) -> tuple[int, Counter, list[str]]:
    """Requests sent, distinct failures by check (operation, check and message, as
    schemathesis counts "unique failures"), and one line per failing operation and
    check, from schemathesis's NDJSON event stream."""
    requests = 0
    distinct: set[tuple[str, str, str]] = set()
    lines: set[str] = set()
    if not ndjson.exists():
        return requests, Counter(), []
    for raw in ndjson.read_text().splitlines():
        finished = json.loads(raw).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder") or {}
        requests += len(recorder.get("interactions") or {})
        label = recorder.get("label", "?")
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                name = check.get("name", "?")
                failure = (check.get("failure_info") or {}).get("failure") or {}
                distinct.add((label, name, str(failure.get("message", ""))))
                lines.add(f"{label}: {name} {failure.get('title', '')}".rstrip())
    return requests, Counter(name for _, name, _ in distinct), sorted(lines)


def server_errors(log_file: Path) -> list[str]:
    """The server log's ERROR records (500 tracebacks), first lines only."""
    if not log_file.exists():
        return []
    return [line for line in log_file.read_text(errors="replace").splitlines() if " ERROR " in line]


def main() -> int:
    seed = os.environ.get("FUZZ_SEED", DEFAULT_SEED)
    max_examples = os.environ.get("FUZZ_MAX_EXAMPLES", DEFAULT_MAX_EXAMPLES)
    workers = os.environ.get("FUZZ_WORKERS", DEFAULT_WORKERS)
    keep = os.environ.get("FUZZ_KEEP") == "1"
    port = int(os.environ.get("FUZZ_PORT") or free_port())
    database_url = os.environ.get(
        "FUZZ_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/outreach_fuzz_{os.getpid()}"
    )
    postgres = database_url.startswith(("postgres://", "postgresql://"))
    data_dir = Path(tempfile.mkdtemp(prefix="outreach-fuzz-"))
    report_dir = data_dir / "report"
    log_file = data_dir / "server.log"
    env = server_env(data_dir, database_url)
    url = f"http://127.0.0.1:{port}"
    server: subprocess.Popen | None = None
    created = keep_files = False
    try:
        if postgres:
            create_database(database_url)
            created = True
        log(f"database {database_url}; DATA_DIR {data_dir}")
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", "--url", url)
        api_key = json.loads((data_dir / "demo.json").read_text())["api_key"]
        write_config(data_dir, env)
        with log_file.open("w") as out:
            server = subprocess.Popen(  # noqa: S603
                [
                    str(BIN / "gunicorn"),
                    "hub.asgi:application",  # the Procfile's web process: Django and /mcp
                    "-k",
                    "uvicorn_worker.UvicornWorker",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    os.environ.get("WEB_CONCURRENCY", "2"),
                    "--timeout",
                    "60",
                    "--no-control-socket",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_health(url, server)
        log(f"server up at {url}; seed {seed}, {max_examples} examples per operation and phase")
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{url}/api/schema/?format=json",
            "--checks",
            CHECKS,
            "--seed",
            seed,
            "--max-examples",
            max_examples,
            "--workers",
            workers,
            "--header",
            f"Authorization: Bearer {api_key}",
            "--generation-database",
            "none",
            "--report",
            "ndjson",
            "--report-dir",
            str(report_dir),
            "--no-color",
            *sys.argv[1:],
        ]
        started = time.monotonic()
        result = subprocess.run(command, cwd=data_dir, env=env, check=False)  # noqa: S603
        elapsed = time.monotonic() - started
        ndjson = next(report_dir.glob("*.ndjson"), report_dir / "missing.ndjson")
        requests, failures, lines = summarise(ndjson)
        errors = server_errors(log_file)
        print()
        log(f"{requests} requests in {elapsed:.0f}s (seed {seed}, max-examples {max_examples})")
        for name in dict.fromkeys([*CHECKS.split(","), *failures]):
            log(f"{name}: {failures.get(name, 0)} failures")
        for line in lines:
            log(f"  {line}")
        if errors:
            log(f"the server logged {len(errors)} errors (full log: {log_file}):")
            for line in errors[:50]:
                print(f"  {line}")
        failed = result.returncode != 0 or sum(failures.values()) > 0 or bool(errors)
        if failed:
            keep_files = True  # the report and the server log are the evidence
            log(f"FAILED; report and server log in {data_dir}")
        return 1 if failed else 0
    finally:
        if server is not None:
            stop(server)
        if created and not keep:
            drop_database(database_url)
        elif created:
            log(f"kept the database {database_url}")
        if not (keep or keep_files):
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
