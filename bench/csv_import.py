"""The contacts CSV import job at scale: rows per second, beside a floor.

    .venv/bin/python bench/csv_import.py                 # SQLite in a temporary DATA_DIR
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import \\
        .venv/bin/python bench/csv_import.py
    options: --rows N (50,000)  --invalid-every K (100: every K-th row is invalid)
             --update-share F (0.1: that share of rows names a contact already there)

Generates an N-row CSV (names, companies, phones, stages; every K-th row with a
bad phone; a share of rows naming contacts loaded beforehand, so they update),
starts the import as the admin does (`contact_import_start`: header check, row
count, the file stored on the job) and runs the job synchronously in this
process (`background_job_run`, as the worker would, batch by batch). Prints
rows/s overall and each batch's time (how long a batch holds the write lock on
SQLite), then the floor: the same new rows written by a bare
`Contact.objects.bulk_create` (no services, events or outbox) in the same run.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time

import _common as common


def make_csv(rows: int, invalid_every: int, known: list[str]) -> bytes:
    rng = random.Random(17)
    first = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis"]
    last = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton"]
    stages = ["subscriber", "lead", "mql", "opportunity", "customer"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "firstname", "lastname", "company", "phone", "lifecyclestage"])
    for i in range(rows):
        email = known[i % len(known)] if known and i % 10 == 0 else f"person{i}@bench.example"
        phone = (
            "555-1234"
            if invalid_every and i % invalid_every == invalid_every - 1
            else (f"+1415555{i % 10000:04d}")
        )
        writer.writerow(
            [
                email,
                rng.choice(first),
                rng.choice(last),
                f"Company {i % 500}",
                phone,
                rng.choice(stages),
            ]
        )
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--invalid-every", type=int, default=100)
    parser.add_argument("--update-share", type=float, default=0.1)
    args = parser.parse_args()

    common.bootstrap("bench-csv-import")
    if common.using_postgresql():
        common.ensure_postgres_database()
    migrate_seconds = common.migrate()

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts import services as account_services
    from accounts.actors import Actor
    from accounts.models import BackgroundJob, Workspace
    from contacts import imports
    from contacts.models import Contact, ContactEvent
    from contacts.services import contact_create

    account_services._enqueue = lambda job_id: None  # this process runs the job itself
    stamp = int(time.time())
    workspace = Workspace.objects.create(name=f"bench-import-{stamp}")
    user = get_user_model().objects.create_user(username=f"bench-import-{stamp}")
    known_count = int(args.rows * args.update_share / 10) if args.update_share else 0
    known = [f"known{i}@bench.example" for i in range(known_count)]
    for email in known:
        contact_create(workspace=workspace, actor=Actor.system("bench"), email=email)
    data = make_csv(args.rows, args.invalid_every, known)

    started = time.perf_counter()
    with transaction.atomic():
        job = imports.contact_import_start(
            workspace=workspace, user=user, file_name="bench.csv", data=data
        )
    queued = time.perf_counter() - started

    batch_seconds: list[float] = []
    real_run = imports._OpenImport.run

    def timed_run(self, start, stop):
        t0 = time.perf_counter()
        try:
            return real_run(self, start, stop)
        finally:
            batch_seconds.append(time.perf_counter() - t0)

    imports._OpenImport.run = timed_run
    started = time.perf_counter()
    account_services.background_job_run(job_id=job.pk)
    run_seconds = time.perf_counter() - started
    job = BackgroundJob.objects.get(pk=job.pk)

    # The floor: the same number of new rows, bulk-inserted bare.
    floor_ws = Workspace.objects.create(name=f"bench-import-floor-{stamp}")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    started = time.perf_counter()
    with transaction.atomic():
        Contact.objects.bulk_create(
            [
                Contact(
                    workspace=floor_ws,
                    email=f"floor{i}-{row['email']}",
                    firstname=row["firstname"],
                    lastname=row["lastname"],
                    lifecyclestage=row["lifecyclestage"],
                )
                for i, row in enumerate(rows)
            ],
            batch_size=1000,
        )
    floor_seconds = time.perf_counter() - started

    batch_seconds.sort()
    events = ContactEvent.objects.filter(workspace=workspace).count()
    print(f"database   {connection.vendor}   (migrate {migrate_seconds:.1f} s)")
    print(
        f"file       {len(data) / 1e6:.1f} MB, {args.rows:,} rows, {known_count:,} known contacts"
    )
    print(f"queue      {queued * 1000:.0f} ms (header check, row count, file stored)")
    print(
        f"job        {job.status}: {job.done:,}/{job.total:,} rows, {job.error_count:,} errors, "
        f"{events:,} timeline events"
    )
    print(f"import     {run_seconds:.1f} s = {job.done / run_seconds:,.0f} rows/s")
    print(
        f"batches    {len(batch_seconds)} of {imports.BATCH_SIZE}: "
        f"p50 {common.percentile(batch_seconds, 50) * 1000:.0f} ms, "
        f"p95 {common.percentile(batch_seconds, 95) * 1000:.0f} ms, "
        f"max {batch_seconds[-1] * 1000:.0f} ms"
    )
    print(
        f"floor      bare bulk_create of {len(rows):,} contacts: {floor_seconds:.1f} s = "
        f"{len(rows) / floor_seconds:,.0f} rows/s "
        f"(the import: {floor_seconds / run_seconds * 100:.1f}% of it)"
    )


if __name__ == "__main__":
    main()
