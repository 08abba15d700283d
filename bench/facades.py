"""Facades at scale: GET /v2/actions.json and GET /functions/v1/scheduled-actions
beside the bare SQL they run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_facades \\
        .venv/bin/python bench/facades.py [--actions N] [--repeat R] [--cleanup]

PostgreSQL only. DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/
bench_facades; the database is created if missing and migrated. REDIS_URL
defaults to redis://127.0.0.1:6379/7: Django's cache, where the /v2 rate limit
counts (one add and one incr per request, as in production); nothing else is
written there and nothing is flushed.

Loads N actions (default 200,000) into a workspace, plus N/10 into a second
"noise" workspace, with ORM bulk_create: about half open (pending_approval,
scheduled, processing), the rest completed, failed or cancelled; ten owners
(members, two of them admins); 30 cadences with their steps; contacts; created_at,
updated_at and scheduled_time spread over 90 days. Then times eight requests
through the real URLs (django.test.Client, in process, real API keys): six of
the Salesloft facade and two of the Magpipe one. The floor beside each is the
same request's SQL, captured from one call and re-executed on the bare DB-API
cursor in the same run; below the table, each statement's plan under EXPLAIN
(ANALYZE, BUFFERS). Asserts nothing.

The data is kept (a re-run that finds the N actions there skips the load);
--cleanup deletes the bench workspaces, their rows and users at the end. The
API keys the run creates are always deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlencode

import _common as common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_facades"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
BENCH_WORKSPACE = "bench-facades"
NOISE_WORKSPACE = "bench-facades-noise"
KEY_NAME = "bench/facades.py"
DAYS = 90
BATCH = 5_000
CADENCES = 30
CONTACTS_PER_ACTION = 0.1  # contacts loaded per action (20,000 for 200,000)
# Owners: (email local part, role). The first is the admin key's user; the
# member key's user is the fourth (about 9% of the actions).
OWNERS = [
    ("admin", "admin"),
    ("ana", "member"),
    ("ben", "admin"),
    ("member", "member"),
    ("dora", "member"),
    ("eli", "member"),
    ("fay", "member"),
    ("gus", "member"),
    ("hana", "member"),
    ("ivo", "member"),
]
MEMBER_OWNER = 3
STATUSES = [  # about half open
    ("pending_approval", 8),
    ("scheduled", 37),
    ("processing", 5),
    ("completed", 38),
    ("failed", 6),
    ("cancelled", 6),
]
ONE_OFF_TYPES = [
    ("send_email", 50),
    ("call_contact", 15),
    ("send_sms", 10),
    ("linkedin_message", 10),
    ("task", 10),
    ("email_message", 5),
]
STEP_TYPES = [("email", 55), ("phone", 20), ("linkedin", 10), ("sms", 5), ("other", 10)]
IN_CADENCE = 0.6  # share of actions that are a cadence step's
WITH_CONTACT = 0.75
WITH_MULTITOUCH = 0.1


def prepare_environment() -> None:
    """Before Django is set up: the bench database and Redis db."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)


class Pick:
    """Weighted choices, k at a time."""

    def __init__(self, weighted: Sequence[tuple[object, float]]):
        self.items = [item for item, _ in weighted]
        self.cum = list(itertools.accumulate(weight for _, weight in weighted))

    def __call__(self, rng: random.Random, k: int = 1) -> list:
        return rng.choices(self.items, cum_weights=self.cum, k=k)


def zipf(items: Sequence, skew: float) -> list[tuple[object, float]]:
    return [(item, 1 / (rank + 1) ** skew) for rank, item in enumerate(items)]


@contextmanager
def explicit_timestamps(*models):
    """bulk_create calls each field's pre_save, which sets auto_now and
    auto_now_add fields to now(): switch them off so the generated times stay."""
    fields = [
        f
        for model in models
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


# --- data ----------------------------------------------------------------------------------
def workspaces():
    """The two workspaces and the bench workspace's owners (existing services)."""
    from accounts.models import Role
    from accounts.services import membership_ensure, user_get_or_create, workspace_get_or_create

    bench, _ = workspace_get_or_create(name=BENCH_WORKSPACE)
    noise, _ = workspace_get_or_create(name=NOISE_WORKSPACE)
    users = []
    for local, role in OWNERS:
        user, _ = user_get_or_create(email=f"bench-facades-{local}@example.com")
        membership_ensure(workspace=bench, user=user, role=Role(role))
        users.append(user)
    noise_user, _ = user_get_or_create(email="bench-facades-noise@example.com")
    membership_ensure(workspace=noise, user=noise_user, role=Role.ADMIN)
    return bench, noise, users, noise_user


OWNED = [  # the bench tables the load fills, children first
    ("outreach", "Action"),
    ("outreach", "Step"),
    ("outreach", "Cadence"),
    ("contacts", "Contact"),
    ("outreach", "Identity"),
]


def clear(workspace_ids: list[int]) -> int:
    """Delete the bench workspaces' rows with plain DELETEs (the ORM's delete
    would collect 200,000 actions for its cascades; the load makes no rows
    that point at them). Returns the actions deleted."""
    from django.apps import apps
    from django.db import connection

    deleted = 0
    with connection.cursor() as cursor:
        for app, name in OWNED:
            table = connection.ops.quote_name(apps.get_model(app, name)._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE workspace_id = ANY(%s)", [workspace_ids])
            if name == "Action":
                deleted = cursor.rowcount
    return deleted


def identities(workspace) -> dict[str, object]:
    from outreach.models import Identity, IdentityChannel

    made = {}
    for channel, address in (
        (IdentityChannel.EMAIL, f"sales@{workspace.name}.example.com"),
        (IdentityChannel.PHONE, "+14155550100"),
        (IdentityChannel.SMS, "+14155550101"),
        (IdentityChannel.LINKEDIN, f"https://www.linkedin.com/in/{workspace.name}"),
    ):
        made[channel], _ = Identity.objects.get_or_create(
            workspace=workspace,
            channel=channel,
            address=address,
            defaults={"display_name": f"{workspace.name} {channel}"},
        )
    return made


def cadences_and_steps(workspace, owners, rng: random.Random):
    """CADENCES cadences of 3 to 7 steps; returns [(cadence, [step, ...])]."""
    from outreach.models import Cadence, Step

    pick_step = Pick(STEP_TYPES)
    cadences = Cadence.objects.bulk_create(
        [
            Cadence(workspace=workspace, name=f"Cadence {i + 1:02d}", owner=rng.choice(owners))
            for i in range(CADENCES)
        ]
    )
    steps = []
    for cadence in cadences:
        for order in range(1, rng.randint(3, 7) + 1):
            steps.append(
                Step(
                    workspace=workspace,
                    cadence=cadence,
                    order=order,
                    day=1 + (order - 1) * 3,
                    type=pick_step(rng)[0],
                    name=f"Step {order}",
                    params_template={
                        "subject": "Following up",
                        "body": "Hi {{ contact.firstname }}",
                    },
                )
            )
    steps = Step.objects.bulk_create(steps)
    by_cadence: dict[int, list] = {}
    for step in steps:
        by_cadence.setdefault(step.cadence_id, []).append(step)
    return [(cadence, by_cadence[cadence.pk]) for cadence in cadences]


def contacts(workspace, n: int) -> list[tuple[int, str]]:
    """n contacts; returns (id, email) of each."""
    from contacts.models import Contact

    made = Contact.objects.bulk_create(
        (
            Contact(
                workspace=workspace,
                email=f"lead{i}@{workspace.name}.example.com",
                firstname=f"Lead{i}",
                lastname="Bench",
                search_text=f"lead{i} bench lead{i}@{workspace.name}.example.com",
            )
            for i in range(n)
        ),
        batch_size=BATCH,
    )
    return [(c.pk, c.email) for c in made]


def params_for(action_type: str, email: str | None, i: int) -> dict:
    if action_type in ("send_email", "email_message"):
        to = email or f"someone{i}@example.com"
        return {"to": to, "subject": "Quick question", "body": "Hello, a quick question."}
    if action_type in ("call_contact", "send_sms"):
        return {"to": f"+1415{i % 10_000_000:07d}", "body": "Hello from the bench."}
    if action_type == "linkedin_message":
        return {"profile_url": f"https://www.linkedin.com/in/lead-{i}", "message": "Hi!"}
    return {"title": "Research the account", "notes": ""}


def action_objects(
    *,
    workspace,
    n: int,
    seed: int,
    now: dt.datetime,
    owners: list,
    identity_of: dict,
    cadence_steps: list,
    contact_rows: list[tuple[int, str]],
) -> Iterator:
    """n Action objects, oldest first over the last DAYS days (ids follow
    created_at, as they do in production)."""
    from outreach.models import (
        STEP_ACTION_TYPES,
        TYPE_CHANNELS,
        UNFINISHED_STATUSES,
        Action,
        IdentityChannel,
    )

    rng = random.Random(seed)
    pick_status = Pick(STATUSES)
    pick_type = Pick(ONE_OFF_TYPES)
    pick_owner = Pick(zipf(owners, 0.6))
    pick_cadence = Pick(zipf(cadence_steps, 0.8))
    span = dt.timedelta(days=DAYS)
    start = now - span
    two_days = dt.timedelta(days=2)
    for i in range(n):
        created = start + span * ((i + rng.random()) / n)
        # Updated within two days of creation, never in the future.
        updated = created + rng.random() * min(two_days, now - created)
        status = pick_status(rng)[0]
        open_ = status in UNFINISHED_STATUSES
        if open_:
            scheduled = created + dt.timedelta(days=14 * rng.random())
        else:
            scheduled = created + (updated - created) * rng.random()
        cadence = step = None
        if rng.random() < IN_CADENCE:
            cadence, steps = pick_cadence(rng)[0]
            step = rng.choice(steps)
            action_type = STEP_ACTION_TYPES[step.type]
        else:
            action_type = pick_type(rng)[0]
        channels = TYPE_CHANNELS[action_type]
        identity = identity_of[next(iter(channels)) if channels else IdentityChannel.EMAIL]
        contact_id, email = (
            rng.choice(contact_rows) if rng.random() < WITH_CONTACT else (None, None)
        )
        owner = pick_owner(rng)[0] if rng.random() < 0.95 else None
        yield Action(
            workspace=workspace,
            type=action_type,
            params=params_for(action_type, email, i),
            identity=identity,
            owner=owner,
            contact_id=contact_id,
            status=status,
            require_approval=status == "pending_approval",
            scheduled_time=scheduled,
            created_at=created,
            updated_at=updated,
            executed_at=updated if status in ("completed", "failed") else None,
            error_message="550 mailbox unavailable" if status == "failed" else "",
            provider_message_id=f"msg-{seed}-{i}" if status == "completed" else "",
            multitouch_group_id=(
                rng.randrange(1, 5_000) if rng.random() < WITH_MULTITOUCH else None
            ),
            cadence=cadence,
            step=step,
        )


def load(*, bench, noise, users, noise_user, n: int, noise_n: int) -> list[str]:
    """Make the workspaces hold exactly n and noise_n generated actions; return
    lines describing what was done."""
    from django.db import connection, transaction

    from contacts.models import Contact
    from outreach.models import Action, Cadence, Step

    have = Action.objects.filter(workspace=bench).count()
    have_noise = Action.objects.filter(workspace=noise).count()
    report = []
    if have == n and have_noise == noise_n:
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE outreach_action")
        report.append(
            f"already loaded (re-run): skipped; ANALYZE {time.perf_counter() - start:.1f} s"
        )
        return report

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    total_start = time.perf_counter()
    with transaction.atomic(), explicit_timestamps(Action):
        start = time.perf_counter()
        deleted = clear([bench.pk, noise.pk])
        if deleted:
            report.append(
                f"deleted the previous {deleted:,} actions in {time.perf_counter() - start:.1f} s"
            )
        start = time.perf_counter()
        for workspace, count, owners, seed in (
            (bench, n, users, 1),
            (noise, noise_n, [noise_user], 2),
        ):
            rng = random.Random(seed * 1000)
            identity_of = identities(workspace)
            cadence_steps = cadences_and_steps(workspace, owners, rng)
            contact_rows = contacts(workspace, max(10, int(count * CONTACTS_PER_ACTION)))
            generated = action_objects(
                workspace=workspace,
                n=count,
                seed=seed,
                now=now,
                owners=owners,
                identity_of=identity_of,
                cadence_steps=cadence_steps,
                contact_rows=contact_rows,
            )
            while batch := list(itertools.islice(generated, BATCH)):
                Action.objects.bulk_create(batch)
        report.append(
            f"bulk_create {n + noise_n:,} actions (batches of {BATCH:,}), "
            f"{int(n * CONTACTS_PER_ACTION) + int(noise_n * CONTACTS_PER_ACTION):,} contacts, "
            f"{CADENCES * 2} cadences with steps in {time.perf_counter() - start:.1f} s"
        )
        start = time.perf_counter()
    report.append(f"commit (deferred foreign key checks) {time.perf_counter() - start:.1f} s")

    # VACUUM as well as ANALYZE: it sets the visibility map, which an index-only
    # scan (the COUNT of include_paging_counts) needs; autovacuum would do the
    # same on a live table.
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (Action, Contact, Cadence, Step):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
    report.append(f"VACUUM (ANALYZE) {time.perf_counter() - start:.1f} s")
    report.append(f"load total {time.perf_counter() - total_start:.1f} s")
    return report


def drop_bench(bench, noise) -> None:
    """--cleanup: the bench rows, the two workspaces and the bench users."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    with transaction.atomic():
        clear([bench.pk, noise.pk])
        bench.delete()
        noise.delete()
        get_user_model().objects.filter(username__startswith="bench-facades-").delete()


# --- measuring ----------------------------------------------------------------------------


EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


def explain_analyze(statement) -> tuple[list[str], float]:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement (a SELECT: nothing
    changes): its lines and its execution time in ms."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params)
        lines = [row[0] for row in cursor.fetchall()]
    found = EXECUTION.search("\n".join(lines))
    return lines, float(found.group(1)) if found else float("nan")


def is_action_select(statement) -> bool:
    return (
        statement.sql.lstrip().upper().startswith("SELECT") and "outreach_action" in statement.sql
    )


def main_statement(statements):
    """The page query: the action SELECT that is not a COUNT."""
    selects = [s for s in statements if is_action_select(s)]
    pages = [s for s in selects if "COUNT(" not in s.sql.upper()]
    return (pages or selects or statements)[-1]


def plan_flags(lines: list[str]) -> str:
    text = "\n".join(lines)
    used = list(dict.fromkeys(common.PG_INDEX.findall(text)))
    flags = ", ".join(used) or "no index"
    if any(t == "outreach_action" for t in common.PG_SEQ.findall(text)):
        flags += " +SEQ SCAN"
    if re.search(r"^\s*(->\s*)?(Incremental )?Sort\b", text, re.M):
        flags += " +sort"
    return flags


def dataset_summary(bench, member, cadence, recent) -> list[str]:
    from outreach.models import UNFINISHED_STATUSES, Action

    open_ = Action.objects.filter(workspace=bench, status__in=UNFINISHED_STATUSES)
    total = Action.objects.filter(workspace=bench).count()
    rows = [
        ("open (what /v2 shows)", open_.count()),
        ("pending (Magpipe status=pending)", open_.exclude(status="processing").count()),
        (f"open, updated_at > {recent.isoformat()}", open_.filter(updated_at__gt=recent).count()),
        (f"open, cadence {cadence.pk} ({cadence.name})", open_.filter(cadence=cadence).count()),
        (f"open, owned by the member key's user {member.pk}", open_.filter(owner=member).count()),
    ]
    lines = [f"{total:,} actions in the measured workspace, of which"]
    lines += [f"  {count:>9,}  {label}" for label, count in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--actions", type=int, default=200_000, help="actions in the measured workspace (200,000)"
    )
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per query (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (5)")
    parser.add_argument(
        "--plan-lines", type=int, default=18, help="plan lines printed per statement (18)"
    )
    parser.add_argument(
        "--cleanup", action="store_true", help="delete the bench workspaces and users at the end"
    )
    args = parser.parse_args(argv)
    began = time.monotonic()

    prepare_environment()
    if not common.using_postgresql():
        sys.exit("bench/facades.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    common.bootstrap("bench-facades")
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import ApiKey, Scope
    from accounts.services import api_key_create
    from outreach.models import Action, Cadence

    # The /v2 facade charges each request against the workspace's budget per
    # minute (SALESLOFT_RATE_LIMIT_PER_MINUTE, 600 by default): 8 x 55 requests
    # would be refused with 429 within the first minute. Raise the budget so
    # nothing is refused; every request still pays the limiter's cache round
    # trips (cache.add + cache.incr on REDIS_URL), as in production.
    settings.SALESLOFT_RATE_LIMIT_PER_MINUTE = 1_000_000_000

    created = common.ensure_postgres_database()
    migrate_seconds = common.migrate()
    bench, noise, users, noise_user = workspaces()
    noise_n = max(1, args.actions // 10)
    load_report = load(
        bench=bench,
        noise=noise,
        users=users,
        noise_user=noise_user,
        n=args.actions,
        noise_n=noise_n,
    )

    admin, member = users[0], users[MEMBER_OWNER]
    ApiKey.objects.filter(workspace=bench, name=KEY_NAME).delete()
    _, admin_key = api_key_create(
        workspace=bench, user=admin, name=KEY_NAME, scopes=[Scope.ACTIONS_READ]
    )
    _, member_key = api_key_create(
        workspace=bench, user=member, name=KEY_NAME, scopes=[Scope.ACTIONS_READ]
    )
    admin_client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {admin_key}")
    member_client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {member_key}")

    # A mid-sized cadence (the 10th most used of 30) and a polling cursor one
    # hour before the latest update: what a client polling every hour asks.
    cadences = list(Cadence.objects.filter(workspace=bench).order_by("id"))
    cadence = cadences[min(9, len(cadences) - 1)]
    latest = Action.objects.filter(workspace=bench).order_by("-updated_at").first().updated_at
    recent = latest - dt.timedelta(hours=1)
    recent_text = recent.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    v2 = "/v2/actions.json?"
    magpipe = "/functions/v1/scheduled-actions?"
    queries = [
        ("v2 default (page 1)", admin_client, v2 + urlencode({"per_page": 100})),
        ("v2 page 50", admin_client, v2 + urlencode({"per_page": 100, "page": 50})),
        (
            "v2 poll updated_at[gt]",
            admin_client,
            v2 + urlencode({"per_page": 100, "updated_at[gt]": recent_text}),
        ),
        (
            "v2 cadence_id",
            admin_client,
            v2 + urlencode({"per_page": 100, "cadence_id": cadence.pk}),
        ),
        (
            "v2 include_paging_counts",
            admin_client,
            v2 + urlencode({"per_page": 100, "include_paging_counts": "true"}),
        ),
        ("v2 member key", member_client, v2 + urlencode({"per_page": 100})),
        ("magpipe pending", admin_client, magpipe + urlencode({"status": "pending", "limit": 100})),
        (
            "magpipe offset 5000",
            admin_client,
            magpipe + urlencode({"status": "pending", "limit": 100, "offset": 5000}),
        ),
    ]

    db = settings.DATABASES["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('shared_buffers')")
        version, shared_buffers = cursor.fetchone()
    print("bench/facades.py: GET /v2/actions.json and GET /functions/v1/scheduled-actions")
    print(f"database   {version.split(' on ')[0]}, {db['NAME']}" + " (created)" * created)
    print(f"           shared_buffers={shared_buffers}; migrate {migrate_seconds:.1f} s")
    print(
        f"cache      {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
        f" {settings.CACHES['default'].get('LOCATION', '')} (the /v2 rate limit's counter;"
        " budget raised to 1e9/minute for the run)"
    )
    print(f"actions    {args.actions:,} in the measured workspace + {noise_n:,} in a noise one")
    for line in load_report:
        print(f"load       {line}")
    for line in dataset_summary(bench, member, cadence, recent):
        print(f"data       {line}")
    print(
        f"method     {args.repeat} timed runs per query after {args.warmup} warm-ups, "
        f"interleaved: api = django.test.Client in process (DEBUG={int(settings.DEBUG)}), "
        "sql = the SQL that call ran, replayed on the bare DB-API cursor, rows fetched; "
        "page = the page SELECT alone (replay p50); explain = its EXPLAIN ANALYZE execution time"
    )
    print()
    sys.stdout.flush()

    results = []
    try:
        for name, client, url in queries:
            body, statements, api, sql = common.measure(
                client, url, repeat=args.repeat, warmup=args.warmup
            )
            plans = [(s, *explain_analyze(s)) for s in statements if is_action_select(s)]
            results.append((name, url, body, statements, api, sql, plans))
    finally:
        ApiKey.objects.filter(workspace=bench, name=KEY_NAME).delete()

    rows = []
    for name, _url, body, statements, api, sql, plans in results:
        page = main_statement(statements)
        page_plan = next((p for p in plans if p[0] is page), None)
        returned = len(body["data"])
        paging = body.get("metadata", {}).get("paging", {})
        total = body.get("total", paging.get("total_count"))
        rows.append(
            [
                name,
                f"{returned}" + (f" of {total:,}" if total is not None else ""),
                str(len(statements)),
                common.ms(common.percentile(api, 50)),
                common.ms(common.percentile(api, 95)),
                common.ms(common.percentile(sql, 50)),
                common.ms(common.percentile(sql, 95)),
                f"{common.percentile(api, 50) / common.percentile(sql, 50):.1f}x",
                common.ms(common.percentile(page.timings, 50)),
                f"{page_plan[2]:.2f}" if page_plan else "-",
                plan_flags(page_plan[1]) if page_plan else "-",
            ]
        )
    headers = ["query", "rows", "stmts", "api p50", "api p95", "sql p50", "sql p95"]
    headers += ["api/sql", "page p50", "explain", "page plan"]
    print(f"N = {args.actions:,}, times in ms")
    print(common.table(headers, rows, right=range(1, len(headers) - 1)))

    for name, url, _body, statements, _api, _sql, plans in results:
        print()
        print(f"== {name}: GET {url}")
        for number, statement in enumerate(statements, 1):
            p50 = common.ms(common.percentile(statement.timings, 50))
            print(f"  sql {number}  p50 {p50:>7} ms  {statement.summary}")
        for statement, lines, execution in plans:
            number = statements.index(statement) + 1
            print(
                f"  plan of sql {number} (EXPLAIN ANALYZE: {execution:.2f} ms): {plan_flags(lines)}"
            )
            for line in lines[: args.plan_lines]:
                print(f"    {line}")
            if len(lines) > args.plan_lines:
                print(f"    ... {len(lines) - args.plan_lines} more lines")
        if name.startswith("v2 default"):
            page = main_statement(statements)
            lines = next(p[1] for p in plans if p[0] is page)
            text = "\n".join(lines)
            used = "action_v2_open_idx" in common.PG_INDEX.findall(text)
            backward = re.search(r"Index Scan Backward using action_v2_open_idx", text)
            print(
                "  the default order walks action_v2_open_idx: "
                + ("yes" if used else "NO")
                + (" (Index Scan Backward, no sort)" if backward else "")
            )

    if args.cleanup:
        start = time.perf_counter()
        drop_bench(bench, noise)
        print()
        print(
            f"cleanup    deleted the bench workspaces, rows and users in "
            f"{time.perf_counter() - start:.1f} s"
        )
    else:
        print()
        print(f"data kept in {db['NAME']} (a re-run skips the load; --cleanup deletes it)")
    print(f"run took {time.monotonic() - began:.0f} s in all")


if __name__ == "__main__":
    main(sys.argv[1:])
