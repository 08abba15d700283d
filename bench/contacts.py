"""Contacts at scale: latency of GET /v1/contacts beside the bare SQL it runs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_contacts \\
        .venv/bin/python bench/contacts.py [--contacts N] [--repeat R]
    .venv/bin/python bench/contacts.py            # SQLite in a temporary DATA_DIR

Loads N contacts (default 1,000,000 on PostgreSQL, 20,000 on SQLite) into a
workspace, plus N/10 into a second "noise" workspace, then times three calls of
the list endpoint through the whole Django stack (django.test.Client, in
process, with a real API key): a filtered page, a search and a count_only. The
floor beside each is the same request's SQL, captured from one call and
re-executed on the bare DB-API cursor in the same run. Prints the plans and
flags a sequential scan of the contacts table. Asserts nothing.

A PostgreSQL database is created if missing and kept: a re-run finds the N
contacts already there and skips the load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from urllib.parse import urlencode

import _common as common

BENCH_WORKSPACE = "bench-contacts"
NOISE_WORKSPACE = "bench-contacts-noise"
BENCH_USER = "bench-contacts"
DEFAULT_SEARCH = "kowalczyk"  # a surname given to 0.5% of contacts
CONTACTS_PER_COMPANY = 50
BATCH = 10_000


# --- realistic-looking data ---------------------------------------------------------
def words(text: str) -> list[str]:
    """Space-separated; an underscore stands for a space inside one item."""
    return [word.replace("_", " ") for word in text.split()]


def zipf(items: Sequence[str], skew: float = 0.8) -> list[tuple[str, float]]:
    return [(item, 1 / (rank + 1) ** skew) for rank, item in enumerate(items)]


FIRST_NAMES = zipf(
    words(
        "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
        "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy "
        "Anthony Sandra Mark Ashley Steven Emily Paul Michelle Andrew Amanda Joshua Melissa "
        "Kevin Laura Brian Rebecca George Sharon Ryan Cynthia Jacob Kathleen Nicholas Amy Eric "
        "Anna Jonathan Olivia Priya Rahul Ananya Arjun Wei Li Mei Hiroshi Yuki Sakura Kenji "
        "Lukas Sophie Felix Hannah Jonas Lea Mateo Lucía José María Camila Santiago Sofía "
        "Gabriel Valentina Pierre Camille Louis Chloé Léa Hugo Oliver Amelia Harry Isla Jack "
        "Freya Noah Emma Liam Ava Ethan Mia Lars Ingrid Sven Astrid Piotr Agnieszka Tomasz "
        "Katarzyna Aisha Omar Fatima Yusuf Chidi Ngozi Kwame Amara Siobhan Niamh Cormac Aoife "
        "Björn Zoë"
    )
)
LAST_NAMES = zipf(
    words(
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
        "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
        "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell "
        "Carter Roberts Patel Sharma Singh Gupta Kumar Chen Wang Zhang Liu Huang Tanaka Suzuki "
        "Takahashi Watanabe Sato Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker "
        "Schulz Hoffmann Dubois Durand Lefebvre Moreau Laurent Bernard Rossi Russo Ferrari "
        "Esposito Bianchi Romano Silva Santos Oliveira Souza Pereira Costa Almeida Jensen "
        "Nielsen Hansen Andersson Johansson Karlsson Nowak Wiśniewski Wójcik Kamiński "
        "Lewandowski Zieliński O'Brien Murphy Kelly Walsh Byrne Okafor Adeyemi Mensah Osei Khan "
        "Ahmed Ali Hassan Ivanov Petrov Novak Horvat Kovač Yilmaz Demir Kaya Cohen Levi "
        "Friedman Fernández Jiménez Ruiz Díaz Moreno Álvarez Romero Navarro Van_der_Berg "
        "De_Vries Bakker Visser Janssen Smit Dekker Brouwer"
    )
)
# The benchmark's search term: exactly 0.5% of last names, a substring of nothing else.
_total = sum(weight for _, weight in LAST_NAMES)
LAST_NAMES.append(("Kowalczyk", _total * 0.005 / 0.995))

TITLE_ROLES = zipf(
    [
        "Software Engineer",
        "Account Executive",
        "Product Manager",
        "Marketing Manager",
        "Sales Development Representative",
        "Customer Success Manager",
        "Data Analyst",
        "Data Scientist",
        "Product Designer",
        "Recruiter",
        "Financial Analyst",
        "Operations Manager",
        "DevOps Engineer",
        "Solutions Architect",
        "Office Manager",
        "HR Business Partner",
        "Content Strategist",
        "Growth Marketer",
    ],
    0.6,
)
SENIORITY = [("", 55), ("Senior ", 20), ("Lead ", 8), ("Principal ", 4), ("Junior ", 8), ("", 5)]
EXECUTIVE = zipf(
    [
        "Head of Marketing",
        "VP of Sales",
        "Director of Engineering",
        "CTO",
        "CEO",
        "Founder",
        "Chief Revenue Officer",
        "VP of Product",
        "Head of Growth",
        "CFO",
        "Head of People",
    ]
)
STAGES = [
    ("lead", 30),
    ("prospect", 14),
    ("mql", 10),
    ("sql", 8),
    ("opportunity", 7),
    ("customer", 15),
    ("evangelist", 2),
    ("subscriber", 10),
    ("other", 2),
    ("", 2),
]
LEAD_STATUSES = [
    ("NEW", 25),
    ("OPEN", 20),
    ("IN_PROGRESS", 15),
    ("ATTEMPTED_TO_CONTACT", 10),
    ("CONNECTED", 8),
    ("OPEN_DEAL", 5),
    ("UNQUALIFIED", 7),
    ("BAD_TIMING", 5),
    ("", 5),
]
INDUSTRIES = zipf(
    [
        "Software",
        "Financial Services",
        "Healthcare",
        "Retail",
        "Manufacturing",
        "Education",
        "Media",
        "Logistics",
        "Real Estate",
        "Energy",
        "Telecommunications",
        "Hospitality",
        "Government",
        "Non-profit",
        "Biotech",
    ],
    0.7,
)
# country -> (weight, calling code, [(city, state, time zone), ...])
PLACES: dict[str, tuple[float, str, list[tuple[str, str, str]]]] = {
    "US": (
        34,
        "1",
        [
            ("New York", "NY", "America/New_York"),
            ("San Francisco", "CA", "America/Los_Angeles"),
            ("Los Angeles", "CA", "America/Los_Angeles"),
            ("Austin", "TX", "America/Chicago"),
            ("Chicago", "IL", "America/Chicago"),
            ("Seattle", "WA", "America/Los_Angeles"),
            ("Boston", "MA", "America/New_York"),
            ("Denver", "CO", "America/Denver"),
            ("Atlanta", "GA", "America/New_York"),
            ("Miami", "FL", "America/New_York"),
        ],
    ),
    "GB": (
        10,
        "44",
        [
            ("London", "England", "Europe/London"),
            ("Manchester", "England", "Europe/London"),
            ("Bristol", "England", "Europe/London"),
            ("Edinburgh", "Scotland", "Europe/London"),
        ],
    ),
    "DE": (
        8,
        "49",
        [
            ("Berlin", "Berlin", "Europe/Berlin"),
            ("Munich", "Bavaria", "Europe/Berlin"),
            ("Hamburg", "Hamburg", "Europe/Berlin"),
            ("Frankfurt", "Hesse", "Europe/Berlin"),
        ],
    ),
    "FR": (
        6,
        "33",
        [
            ("Paris", "Île-de-France", "Europe/Paris"),
            ("Lyon", "Auvergne-Rhône-Alpes", "Europe/Paris"),
            ("Toulouse", "Occitanie", "Europe/Paris"),
        ],
    ),
    "CA": (
        6,
        "1",
        [
            ("Toronto", "ON", "America/Toronto"),
            ("Vancouver", "BC", "America/Vancouver"),
            ("Montreal", "QC", "America/Toronto"),
        ],
    ),
    "IN": (
        7,
        "91",
        [
            ("Bengaluru", "Karnataka", "Asia/Kolkata"),
            ("Mumbai", "Maharashtra", "Asia/Kolkata"),
            ("New Delhi", "Delhi", "Asia/Kolkata"),
        ],
    ),
    "AU": (
        4,
        "61",
        [("Sydney", "NSW", "Australia/Sydney"), ("Melbourne", "VIC", "Australia/Melbourne")],
    ),
    "NL": (
        3,
        "31",
        [
            ("Amsterdam", "North Holland", "Europe/Amsterdam"),
            ("Rotterdam", "South Holland", "Europe/Amsterdam"),
        ],
    ),
    "ES": (
        3,
        "34",
        [("Madrid", "Madrid", "Europe/Madrid"), ("Barcelona", "Catalonia", "Europe/Madrid")],
    ),
    "BR": (
        3,
        "55",
        [("São Paulo", "SP", "America/Sao_Paulo"), ("Rio de Janeiro", "RJ", "America/Sao_Paulo")],
    ),
    "JP": (3, "81", [("Tokyo", "Tokyo", "Asia/Tokyo"), ("Osaka", "Osaka", "Asia/Tokyo")]),
    "SE": (2, "46", [("Stockholm", "Stockholm", "Europe/Stockholm")]),
    "SG": (2, "65", [("Singapore", "", "Asia/Singapore")]),
    "IE": (2, "353", [("Dublin", "Leinster", "Europe/Dublin")]),
    "PL": (
        2,
        "48",
        [("Warsaw", "Masovia", "Europe/Warsaw"), ("Kraków", "Lesser Poland", "Europe/Warsaw")],
    ),
    "MX": (2, "52", [("Mexico City", "CDMX", "America/Mexico_City")]),
    "": (3, "", [("", "", "")]),
}
LOCATIONS = [
    ((country, code, *place), weight / len(places))
    for country, (weight, code, places) in PLACES.items()
    for place in places
]
FREE_MAIL = [("gmail.com", 50), ("outlook.com", 15), ("yahoo.com", 12), ("icloud.com", 8)]
FREE_MAIL += [("proton.me", 5), ("hotmail.com", 10)]
EMAIL_PATTERNS = [("{f}.{l}", 50), ("{i}{l}", 20), ("{f}{l}", 10), ("{l}.{f}", 8)]
EMAIL_PATTERNS += [("{f}_{l}", 5), ("{f}", 4), ("{i}.{l}", 3)]
SYLLABLES = "ac bri cor dal en fin gal hel ion jun lum mer nov or pax quin ros sol tal ul ver"
SYLLABLES += " wex xen yor zen bel cam dor eli fen gor hal iv jas lor mor nel ost pel"
ENDINGS = words("ly io ex ora ify wise stack era ium ant bit core gen logic path works")
KINDS = " Analytics, Systems, Health, Capital, Logistics, Labs, Software, Group, Partners"
KINDS += ", Robotics, Energy, Foods, Media, Inc, Technologies, Consulting, Bank, Insurance"
SIZES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+"]
PROPERTIES = [
    ("{}", 85),
    ('{"source": "webinar"}', 5),
    ('{"source": "trade show", "booth_scan": true}', 4),
    ('{"newsletter": "weekly"}', 6),
]


class Pick:
    """Weighted choices, k at a time."""

    def __init__(self, weighted: Sequence[tuple[object, float]]):
        self.items = [item for item, _ in weighted]
        self.cum = list(itertools.accumulate(weight for _, weight in weighted))

    def __call__(self, rng: random.Random, k: int) -> list:
        return rng.choices(self.items, cum_weights=self.cum, k=k)


PICK_FIRST = Pick(FIRST_NAMES)
PICK_LAST = Pick(LAST_NAMES)
PICK_ROLE = Pick(TITLE_ROLES)
PICK_SENIORITY = Pick(SENIORITY)
PICK_EXEC = Pick(EXECUTIVE)
PICK_STAGE = Pick(STAGES)
PICK_LEAD = Pick(LEAD_STATUSES)
PICK_INDUSTRY = Pick(INDUSTRIES)
PICK_LOCATION = Pick(LOCATIONS)
PICK_FREE_MAIL = Pick(FREE_MAIL)
PICK_PATTERN = Pick(EMAIL_PATTERNS)
PICK_PROPERTIES = Pick(PROPERTIES)


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def company_specs(rng: random.Random, n: int) -> list[dict]:
    syllables, kinds = words(SYLLABLES), KINDS.split(",")
    specs = []
    for _ in range(n):
        stem = rng.choice(syllables) + rng.choice(syllables) + rng.choice(ENDINGS)
        name = (stem.capitalize() + rng.choice(kinds)).strip()
        country = PICK_LOCATION(rng, 1)[0][0]
        specs.append(
            {
                "name": name,
                "domain": f"{ascii_slug(name)}.{rng.choice(['com', 'com', 'io', 'co', 'net'])}",
                "industry": PICK_INDUSTRY(rng, 1)[0],
                "size": rng.choice(SIZES),
                "country": country,
            }
        )
    return specs


# The contact columns the generator fills, in the order it yields them; every
# other column gets its model default (the same value for every row).
GENERATED = (
    "workspace",
    "public_id",
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "phone",
    "linkedin_url",
    "city",
    "state",
    "country",
    "industry",
    "company",
    "lifecyclestage",
    "lead_status",
    "properties",
    "enrichment_status",
    "timezone",
    "unsubscribed",
    "unsubscribed_at",
    "bounced",
    "bounced_at",
    "do_not_contact",
    "do_not_contact_at",
    "search_text",
    "created_at",
    "updated_at",
)


def contact_rows(
    *,
    workspace_id: int,
    companies: list[tuple[int, str, str, str]],
    n: int,
    seed: int,
    now: dt.datetime,
) -> Iterator[tuple]:
    """n contacts, oldest first over the last three years, as GENERATED tuples."""
    from contacts.services import search_text_of

    rng = random.Random(seed)
    company_pick = Pick([(c, 1 / (rank + 1) ** 0.7) for rank, c in enumerate(companies)])
    span = dt.timedelta(days=3 * 365)
    start = now - span
    seen: dict[str, int] = {}
    slugs: dict[str, str] = {}

    def slug(name: str) -> str:
        if name not in slugs:
            slugs[name] = ascii_slug(name)
        return slugs[name]

    for offset in range(0, n, BATCH):
        k = min(BATCH, n - offset)
        firsts, lasts = PICK_FIRST(rng, k), PICK_LAST(rng, k)
        roles, seniorities, execs = PICK_ROLE(rng, k), PICK_SENIORITY(rng, k), PICK_EXEC(rng, k)
        stages, leads, places = PICK_STAGE(rng, k), PICK_LEAD(rng, k), PICK_LOCATION(rng, k)
        patterns, free_mail = PICK_PATTERN(rng, k), PICK_FREE_MAIL(rng, k)
        picked_companies, properties = company_pick(rng, k), PICK_PROPERTIES(rng, k)
        industries = PICK_INDUSTRY(rng, k)
        for j in range(k):
            i = offset + j
            first, last = firsts[j], lasts[j]
            roll = rng.random()
            company = picked_companies[j] if roll < 0.88 else None
            company_id, company_name, domain, industry = company or (None, "", "", industries[j])
            if company is None or rng.random() < 0.05:
                domain = free_mail[j]
            local = patterns[j].format(f=slug(first), l=slug(last), i=slug(first)[:1])
            key = f"{local}@{domain}"
            count = seen.get(key, 0)
            seen[key] = count + 1
            email = f"{local}{count}@{domain}" if count else key
            jobtitle = execs[j] if roll < 0.07 else seniorities[j] + roles[j]
            if roll > 0.97:
                jobtitle = ""
            country, code, city, state, tz = places[j]
            created = start + span * ((i + rng.random()) / n)
            updated = min(now, created + dt.timedelta(days=rng.random() * 200))
            unsubscribed = rng.random() < 0.03
            bounced = rng.random() < 0.015
            dnc = rng.random() < 0.005
            yield (
                workspace_id,
                f"ct_{rng.getrandbits(64):016x}",
                email,
                first,
                last,
                jobtitle,
                f"+{code}{rng.randrange(10**9, 10**10)}" if code and rng.random() < 0.7 else "",
                (
                    f"https://www.linkedin.com/in/{slug(first)}-{slug(last)}-{rng.getrandbits(24):06x}"
                    if rng.random() < 0.45
                    else ""
                ),
                city,
                state,
                country,
                industry,
                company_id,
                stages[j],
                leads[j],
                properties[j],
                "enriched" if rng.random() < 0.4 else "not_enriched",
                tz if rng.random() < 0.7 else "",
                unsubscribed,
                updated if unsubscribed else None,
                bounced,
                updated if bounced else None,
                dnc,
                updated if dnc else None,
                search_text_of(
                    SimpleNamespace(
                        firstname=first,
                        lastname=last,
                        email=email,
                        jobtitle=jobtitle,
                        company_id=company_id,
                    ),
                    company_name,
                ),
                created,
                updated,
            )


# --- loading ------------------------------------------------------------------------
def column_plan() -> tuple[list[str], tuple, list[int]]:
    """(columns in row order, the constant tail for the other columns, positions
    of the datetime columns)."""
    import enum

    from django.db import models

    from contacts.models import Contact

    fields = {f.name: f for f in Contact._meta.concrete_fields if not f.primary_key}
    missing = [name for name in GENERATED if name not in fields]
    if missing:
        raise SystemExit(f"bench/contacts.py is out of date: Contact has no {missing}")
    columns = [fields[name].column for name in GENERATED]
    tail = []
    for name, f in fields.items():
        if name in GENERATED:
            continue
        value = f.get_default() if f.has_default() or not f.null else None
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, dict | list):
            value = json.dumps(value)
        columns.append(f.column)
        tail.append(value)
    datetimes = [
        i for i, name in enumerate(GENERATED) if isinstance(fields[name], models.DateTimeField)
    ]
    return columns, tuple(tail), datetimes


def workspaces():
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Role, Workspace

    bench, _ = Workspace.objects.get_or_create(name=BENCH_WORKSPACE)
    noise, _ = Workspace.objects.get_or_create(name=NOISE_WORKSPACE)
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"email": "bench-contacts@example.com"}
    )
    Membership.objects.get_or_create(workspace=bench, user=user, defaults={"role": Role.ADMIN})
    return bench, noise, user


def load(*, bench, noise, n: int, noise_n: int) -> list[str]:
    """Make the workspaces hold exactly n and noise_n generated contacts; return
    lines describing what was done."""
    from django.db import connection, transaction

    from contacts.models import Company, Contact

    have = Contact.objects.filter(workspace=bench).count()
    have_noise = Contact.objects.filter(workspace=noise).count()
    postgres = connection.vendor == "postgresql"
    report = []
    if have == n and have_noise == noise_n:
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        report.append(
            f"already loaded (re-run): skipped; ANALYZE {time.perf_counter() - start:.1f} s"
        )
        return report

    contact_table = connection.ops.quote_name(Contact._meta.db_table)
    company_table = connection.ops.quote_name(Company._meta.db_table)
    columns, tail, datetime_positions = column_plan()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    total_start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        ids = [bench.pk, noise.pk]
        cursor.execute(f"DELETE FROM {contact_table} WHERE workspace_id IN (%s, %s)", ids)
        cursor.execute(f"DELETE FROM {company_table} WHERE workspace_id IN (%s, %s)", ids)
        if have or have_noise:
            report.append(
                f"deleted the previous {have + have_noise:,} contacts "
                f"in {time.perf_counter() - start:.1f} s"
            )

        rebuild: list[tuple[str, str]] = []
        if postgres:
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cursor.execute(f"SELECT count(*) FROM {contact_table}")
            others = cursor.fetchone()[0]
            if others < n + noise_n:
                # Bulk load: drop the secondary indexes (not those backing a
                # constraint), COPY, then build them again from their own
                # definitions; all in this transaction, so a failure leaves the
                # schema as it was.
                cursor.execute(
                    """
                    SELECT c.relname, pg_get_indexdef(c.oid)
                    FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                    WHERE x.indrelid = %s::regclass
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
                    ORDER BY c.relname
                    """,
                    [Contact._meta.db_table],
                )
                rebuild = cursor.fetchall()
                for name, _ in rebuild:
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")

        start = time.perf_counter()
        rows_by_workspace = []
        for workspace, count, seed in ((bench, n, 1), (noise, noise_n, 2)):
            rng = random.Random(seed * 1000)
            specs = company_specs(rng, max(10, count // CONTACTS_PER_COMPANY))
            made = Company.objects.bulk_create(
                [Company(workspace=workspace, **spec) for spec in specs], batch_size=2000
            )
            companies = [(c.pk, c.name, c.domain, c.industry) for c in made]
            rows_by_workspace.append((workspace.pk, companies, count, seed))
        generated = itertools.chain.from_iterable(
            contact_rows(workspace_id=ws, companies=companies, n=count, seed=seed, now=now)
            for ws, companies, count, seed in rows_by_workspace
        )
        column_list = ", ".join(connection.ops.quote_name(c) for c in columns)
        if postgres:
            with cursor.cursor.copy(f"COPY {contact_table} ({column_list}) FROM STDIN") as copy:
                for row in generated:
                    copy.write_row(row + tail)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            placeholders = ", ".join(["%s"] * len(columns))
            insert = f"INSERT INTO {contact_table} ({column_list}) VALUES ({placeholders})"
            while batch := list(itertools.islice(generated, BATCH)):
                adapted = []
                for row in batch:
                    values = list(row)
                    for p in datetime_positions:
                        values[p] = adapt(values[p])
                    adapted.append((*values, *tail))
                cursor.executemany(insert, adapted)
        companies_total = sum(len(c) for _, c, _, _ in rows_by_workspace)
        report.append(
            f"generated and {'COPY' if postgres else 'INSERT'}ed {n + noise_n:,} contacts and "
            f"{companies_total:,} companies in {time.perf_counter() - start:.1f} s"
        )

        if postgres:
            # Run the deferred foreign key checks now: CREATE INDEX refuses a
            # table with pending trigger events.
            start = time.perf_counter()
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            report.append(f"foreign key checks {time.perf_counter() - start:.1f} s")
        if rebuild:
            start = time.perf_counter()
            slowest = []
            for name, definition in rebuild:
                one = time.perf_counter()
                cursor.execute(definition)
                slowest.append((time.perf_counter() - one, name))
            slowest.sort(reverse=True)
            top = ", ".join(f"{name} {secs:.1f} s" for secs, name in slowest[:3])
            report.append(
                f"built {len(rebuild)} indexes in {time.perf_counter() - start:.1f} s "
                f"(slowest: {top})"
            )
        start = time.perf_counter()
    report.append(f"commit {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"VACUUM (ANALYZE) {contact_table}")
            cursor.execute(f"ANALYZE {company_table}")
        else:
            cursor.execute("ANALYZE")
    report.append(
        f"{'VACUUM ANALYZE' if postgres else 'ANALYZE'} {time.perf_counter() - start:.1f} s"
    )
    report.append(f"load total {time.perf_counter() - total_start:.1f} s")
    return report


# --- measuring ----------------------------------------------------------------------
def measure(client, url: str, *, repeat: int, warmup: int):
    """common.measure, plus the plans of the statements on the contacts table."""
    body, statements, api, sql = common.measure(client, url, repeat=repeat, warmup=warmup)
    plans = [
        (statement, common.explain(statement))
        for statement in statements
        if "contacts_contact" in statement.sql
    ]
    return body, statements, api, sql, plans


def filter_plans(*, bench, now: dt.datetime) -> list[list[str]]:
    """Each other list filter once: its count query's result, time and plan."""
    from contacts.api.serializers import ContactListParams
    from contacts.models import Company
    from contacts.selectors import contacts_filtered

    company = Company.objects.filter(workspace=bench).order_by("id").first()
    cases = [
        {"lifecycle_stage": "evangelist"},
        {"status": "enriched"},
        {"lead_status": "bad_timing"},
        {"country": "se"},
        {"industry": "biotech"},
        {"city": "stockholm"},
        {"state": "bavaria"},
        {"job_title": "architect"},
        {"company_id": company.public_id if company else "co_none"},
        {"has_linkedin": "true"},
        {"created_after": (now - dt.timedelta(days=7)).date().isoformat()},
        {"search": "anna kowalczyk"},
        {"search": "engineer"},
        {"search": "li"},
    ]
    rows = []
    for case in cases:
        params = ContactListParams(data=case)
        params.is_valid(raise_exception=True)
        contacts = contacts_filtered(workspace=bench, filters=params.validated_data)
        start = time.perf_counter()
        count, statements = common.capture(contacts.count)
        elapsed = time.perf_counter() - start
        plan = common.explain(statements[-1])
        seq = "SEQ SCAN" if "contacts_contact" in plan.seq_scans else ""
        rows.append(
            [
                "&".join(f"{key}={value}" for key, value in case.items()),
                f"{count:,}",
                common.ms(elapsed),
                ", ".join(plan.indexes) or "none",
                seq,
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    postgres = common.using_postgresql()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contacts",
        type=int,
        default=1_000_000 if postgres else 20_000,
        help="contacts in the measured workspace (1,000,000 on PostgreSQL, 20,000 on SQLite)",
    )
    parser.add_argument("--repeat", type=int, default=50, help="timed runs per query (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (5)")
    parser.add_argument("--search", default=DEFAULT_SEARCH, help="the search term")
    args = parser.parse_args(argv)

    common.bootstrap("bench-contacts")
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import ApiKey
    from accounts.services import api_key_create

    created = common.ensure_postgres_database() if postgres else False
    migrate_seconds = common.migrate()
    bench, noise, user = workspaces()
    noise_n = max(1, args.contacts // 10)
    load_report = load(bench=bench, noise=noise, n=args.contacts, noise_n=noise_n)

    ApiKey.objects.filter(workspace=bench, name="bench/contacts.py").delete()
    _, key = api_key_create(
        workspace=bench, user=user, name="bench/contacts.py", scopes=["contacts:read"]
    )
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    queries = [
        ("filtered list", {"lifecycle_stage": "lead", "country": "US", "limit": 20}),
        ("search", {"search": args.search, "limit": 20}),
        ("count_only", {"count_only": "true", "lifecycle_stage": "lead", "country": "US"}),
    ]

    db = settings.DATABASES["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if postgres else "SELECT sqlite_version()")
        version = cursor.fetchone()[0]
    version = version.split(" on ")[0] if postgres else f"SQLite {version}"
    print("bench/contacts.py: GET /v1/contacts at scale")
    print(f"database   {connection.vendor}: {version}, {db['NAME']}" + (" (created)" * created))
    print(f"contacts   {args.contacts:,} in the measured workspace + {noise_n:,} in a noise one")
    print(f"migrate    {migrate_seconds:.1f} s")
    for line in load_report:
        print(f"load       {line}")
    print(
        f"method     {args.repeat} timed runs per query after {args.warmup} warm-ups, "
        f"interleaved: api = django.test.Client in process (DEBUG={int(settings.DEBUG)}), "
        "sql = the SQL that call ran, replayed on the bare DB-API cursor, rows fetched"
    )
    print()

    results = []
    try:
        for name, params in queries:
            url = "/v1/contacts?" + urlencode(params)
            results.append(
                (name, url, *measure(client, url, repeat=args.repeat, warmup=args.warmup))
            )
    finally:
        ApiKey.objects.filter(workspace=bench, name="bench/contacts.py").delete()

    rows = []
    for name, _url, body, statements, api, sql, _plans in results:
        matched = body["count"] if "count" in body else body["pagination"]["total_items"]
        rows.append(
            [
                name,
                f"{matched:,} ({matched / args.contacts:.2%})",
                str(len(statements)),
                common.ms(common.percentile(api, 50)),
                common.ms(common.percentile(api, 95)),
                common.ms(common.percentile(sql, 50)),
                common.ms(common.percentile(sql, 95)),
                f"{common.percentile(api, 50) / common.percentile(sql, 50):.1f}x",
            ]
        )
    headers = ["query", "rows matched", "stmts", "api p50", "api p95"]
    headers += ["sql p50", "sql p95", "api/sql p50"]
    print(f"N = {args.contacts:,}, {connection.vendor}, times in ms")
    print(common.table(headers, rows))

    for name, url, _body, statements, _api, _sql, plans in results:
        print()
        print(f"== {name}: GET {url}")
        for number, statement in enumerate(statements, 1):
            p50 = common.ms(common.percentile(statement.timings, 50))
            print(f"  sql {number}  p50 {p50:>7} ms  {statement.summary}")
        for statement, plan in plans:
            number = statements.index(statement) + 1
            used = ", ".join(plan.indexes) or "none"
            flag = ""
            if any(table == "contacts_contact" for table in plan.seq_scans):
                flag = "  <-- SEQ SCAN of contacts_contact"
                if not postgres and name == "search":
                    flag += " (expected on SQLite: no trigram index)"
            print(f"  plan of sql {number}: indexes {used}{flag}")
            for line in plan.lines[:14]:
                print(f"    {line}")
            if len(plan.lines) > 14:
                print(f"    ... {len(plan.lines) - 14} more lines")

    print()
    print("== the other list filters: the count query each runs (1 run, not a benchmark)")
    rows = filter_plans(bench=bench, now=dt.datetime.now(dt.UTC))
    headers = ["filter", "rows matched", "count ms", "indexes in plan", "scan"]
    print(common.table(headers, rows, right=[1, 2]))


if __name__ == "__main__":
    main(sys.argv[1:])
