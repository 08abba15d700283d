"""Settings, all read from the environment here and nowhere else.

With no variable set the service runs on embedded defaults (SQLite in WAL mode and
Celery's filesystem broker under DATA_DIR); DATABASE_URL and REDIS_URL switch to
PostgreSQL and Redis. Every variable is documented in README.md and .env.example.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env.env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-development-only-key-set-SECRET_KEY-in-production"  # noqa: S105
SECRET_KEY = env.env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "accounts",
    "contacts",
    "outreach",
    "automations",
    "webhooks",
    "hub",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything below, so it sees (and turns into JSON) every error page
    # an API path could get, Django's debug pages included.
    "config.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hub.context_processors.ops_status",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {"default": env.database_config("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock at BEGIN (no lock upgrade deadlock),
    # and the busy timeout waits instead of raising "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The test database is a file too, not Django's default shared in-memory one:
    # with an in-memory database the live server (the Playwright tests) hands its
    # one connection to every request thread, and concurrent requests on it (the
    # dashboard's five chart fetches) deadlocked inside SQLite. With a file each
    # thread has its own connection, as web, worker and beat do under `make run`.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.env_int("CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker and cache -------------------------------------------------------
REDIS_URL = env.redis_url("REDIS_URL")
BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Celery's filesystem transport: producer and consumer share one folder.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange bindings; kombu's default is ./control, inside the checkout.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks at the folder (kombu's default is 1 s).
        "polling_interval": 0.2,
    }
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# What a task prints (the console email backend shows each sent mail) is information,
# not a warning, which is Celery's default level for redirected output.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "hub.beat:SingleBeatScheduler"
CELERY_TIMEZONE = "UTC"
# Keep a worker's database connection across tasks (Celery closes it after
# every task otherwise: a new PostgreSQL connection per action); it is still
# recycled every 100 tasks.
CELERY_DB_REUSE_MAX = 100
# The dispatcher's tick has its own queue, which every worker also consumes, so
# a tick never waits behind a backlog of actions to execute.
CELERY_TASK_QUEUES = {"celery": {}, "dispatch": {}}
CELERY_TASK_ROUTES = {
    "outreach.dispatch_due": {"queue": "dispatch"},
    "automations.dispatch_steps": {"queue": "dispatch"},
}
CELERY_TASK_ALWAYS_EAGER = False

# --- Secrets at rest --------------------------------------------------------
# In development a key is derived from SECRET_KEY so nothing extra is needed;
# in production FIELD_ENCRYPTION_KEYS is required (first encrypts, all decrypt).
_derived_key = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
FIELD_ENCRYPTION_KEYS = env.fernet_keys(
    "FIELD_ENCRYPTION_KEYS", fallback=[_derived_key] if DEBUG else None
)

# --- Email ------------------------------------------------------------------
_email = env.email_config("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(DATA_DIR / "mail")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "outreach@localhost")
# Absolute links in outgoing messages (unsubscribe URLs) start with this.
PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Email through an ESP instead of SMTP: ANYMAIL_ESP names an anymail backend
# (mailgun, sendgrid, postmark, amazon_ses, brevo, ...) and ANYMAIL_API_KEY its key.
ANYMAIL_ESP = env.env_str("ANYMAIL_ESP")
if ANYMAIL_ESP:
    if not ANYMAIL_ESP.replace("_", "").isalnum():
        raise ImproperlyConfigured(f"ANYMAIL_ESP={ANYMAIL_ESP!r} is not an anymail ESP name.")
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
# Inbound email through the ESP's webhook at /webhooks/anymail/<esp>/inbound/
# (automations.receivers): the ESP calls it with HTTP Basic auth "user:password"
# from ANYMAIL_WEBHOOK_SECRET. Unset, a random secret nobody knows is used, so the
# webhook refuses every call instead of accepting anyone's mail.
_webhook_secret = env.env_str("ANYMAIL_WEBHOOK_SECRET") or f"off:{secrets.token_urlsafe(32)}"
if ":" not in _webhook_secret:
    raise ImproperlyConfigured("ANYMAIL_WEBHOOK_SECRET must look like user:password.")
ANYMAIL = {"WEBHOOK_SECRET": _webhook_secret}
if ANYMAIL_ESP:
    ANYMAIL[f"{ANYMAIL_ESP.upper()}_API_KEY"] = env.env_str("ANYMAIL_API_KEY", "")

# --- Execution engine ---------------------------------------------------------
# How long a claimed action may stay `processing` before it is reclaimed (a
# worker killed mid-send). Longer than any provider call's timeout.
ACTION_LEASE_SECONDS = env.env_int("ACTION_LEASE_SECONDS", 300, minimum=30)
ACTION_MAX_RETRIES = env.env_int("ACTION_MAX_RETRIES", 5, minimum=0)
ACTION_RETRY_BASE_SECONDS = env.env_int("ACTION_RETRY_BASE_SECONDS", 30, minimum=1)
ACTION_RETRY_MAX_SECONDS = env.env_int("ACTION_RETRY_MAX_SECONDS", 3600, minimum=1)
# A batch is claimed, started and finished with a constant number of statements,
# and its sends fill WORKER_SEND_CONCURRENCY threads: 256 is four rounds of 64.
DISPATCH_BATCH_SIZE = env.env_int("DISPATCH_BATCH_SIZE", 256, minimum=1)
# At most this many actions are `processing` at once: a burst of due actions is
# claimed as workers free up, so leases do not expire while tasks wait in line.
DISPATCH_MAX_IN_FLIGHT = env.env_int("DISPATCH_MAX_IN_FLIGHT", 2048, minimum=1)
PROVIDER_TIMEOUT_SECONDS = env.env_int("PROVIDER_TIMEOUT_SECONDS", 20, minimum=1)
# Provider calls of a batch in flight at once in one worker process (threads:
# outreach/execution/sending.py), and per provider a lower cap where its rate
# limits want one ("smtp", "twilio", "linkedin", or an ESP's name).
# 64, not 32: a send thread spends about 80 % of its time waiting on the
# provider and a provider's answer is slower under load than on paper, so 2
# processes x 32 delivered ~400/s against a 100 ms SMTP server and 2 x 64 ~550/s
# (bench/README.md, issue 13). Threads waiting on sockets cost little; a
# provider that wants fewer connections gets its cap in PROVIDER_MAX_CONCURRENCY.
WORKER_SEND_CONCURRENCY = env.env_int("WORKER_SEND_CONCURRENCY", 64, minimum=1)
PROVIDER_MAX_CONCURRENCY = env.env_int_map("PROVIDER_MAX_CONCURRENCY", {})
# Batches one worker process has in flight: the next one starts while the last
# one's sends are out (outreach/execution/runner.py). 1: one batch at a time.
WORKER_BATCHES_IN_FLIGHT = env.env_int("WORKER_BATCHES_IN_FLIGHT", 2, minimum=1)
SALESLOFT_RATE_LIMIT_PER_MINUTE = env.env_int("SALESLOFT_RATE_LIMIT_PER_MINUTE", 600, minimum=1)

# Approval requests (README "Approval requests"): at most one email per reviewer
# per APPROVAL_DIGEST_MINUTES (0: one per beat tick with anything new), and how
# long its one-click Approve/Reject links work.
APPROVAL_DIGEST_MINUTES = env.env_int("APPROVAL_DIGEST_MINUTES", 5, minimum=0)
APPROVAL_LINK_HOURS = env.env_int("APPROVAL_LINK_HOURS", 48, minimum=1)

# Twilio (send_sms, call_contact), spoken over HTTP; the base URL is settable so
# tests talk to a local fake that speaks Twilio's wire format.
TWILIO_ACCOUNT_SID = env.env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env.env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_BASE_URL = env.url("TWILIO_BASE_URL", "https://api.twilio.com")
TWILIO_STATUS_CALLBACK_URL = env.env_str("TWILIO_STATUS_CALLBACK_URL", "")

# LinkedIn messages go to a LinkedIn automation service's webhook, signed the
# Standard Webhooks way with LINKEDIN_WEBHOOK_SECRET ("whsec_<base64>").
LINKEDIN_WEBHOOK_URL = env.env_str("LINKEDIN_WEBHOOK_URL", "")
LINKEDIN_WEBHOOK_SECRET = env.env_str("LINKEDIN_WEBHOOK_SECRET", "")

# Automations' outbound ApiCall requests refuse private, loopback and link-local
# addresses; this comma-separated list of host names or CIDRs, each with an
# optional :port, lets on-premise targets (and tests) through.
OUTBOUND_HTTP_ALLOWLIST = env.outbound_allowlist("OUTBOUND_HTTP_ALLOWLIST")
# Off: only OUTBOUND_HTTP_ALLOWLIST's destinations are reached, and no other name is
# even resolved (`make fuzz` runs so, since generated definitions name any host).
OUTBOUND_HTTP_PUBLIC = env.env_bool("OUTBOUND_HTTP_PUBLIC", True)
# Where the web process listens (the Procfile binds ${HOST:-0.0.0.0}:${PORT:-8000}):
# with PUBLIC_BASE_URL, the service's own address, which an allowlist entry
# without a port never lets an ApiCall reach (config.allowlist.ServiceAddress).
LISTEN_HOST = env.env_str("HOST")
LISTEN_PORT = env.env_port("PORT", 8000)

# Webhooks (README "Webhooks"). A subscription's URL must be https unless this is
# off (default: off only when DEBUG is on, so `make run` reaches a local receiver).
WEBHOOKS_REQUIRE_HTTPS = env.env_bool("WEBHOOKS_REQUIRE_HTTPS", not DEBUG)
# Seconds one delivery attempt may take (connect, send, answer).
WEBHOOK_TIMEOUT_SECONDS = env.env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Deliveries one dispatch tick claims and sends.
WEBHOOK_BATCH_SIZE = env.env_int("WEBHOOK_BATCH_SIZE", 20, minimum=1)
# A subscription failing this long (since its first failure after a success) is
# disabled and the workspace's admins are emailed. Default: 5 days.
WEBHOOK_DISABLE_AFTER_SECONDS = env.env_int(
    "WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 24 * 3600, minimum=60
)

# --- Metrics and readiness ---------------------------------------------------
# /metrics (Prometheus text format, README "Metrics and readiness") answers a
# request carrying `Authorization: Bearer <METRICS_TOKEN>`, or one from an address
# in METRICS_ALLOWED_CIDRS (comma-separated networks, e.g. 10.0.0.0/8). With
# neither set it is off (404).
METRICS_TOKEN = env.env_str("METRICS_TOKEN", "") or ""
try:
    METRICS_ALLOWED_CIDRS = [
        ipaddress.ip_network(item, strict=False)
        for item in env.env_list("METRICS_ALLOWED_CIDRS", [])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {exc}") from exc
# prometheus_client's multiprocess mode: every process (gunicorn's workers,
# Celery's pool processes) writes its counters and histograms to files here, and
# a scrape adds them up. It must be set before prometheus_client is imported
# (config.metrics imports it after the settings are loaded).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
# /readyz and the admin's banner: beat and a worker must have checked in this recently.
READINESS_MAX_AGE_SECONDS = 30

# --- Auth, i18n, static -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' folders when collectstatic has not been run.
WHITENOISE_USE_FINDERS = env.env_bool("WHITENOISE_USE_FINDERS", default=True)

# --- HTTPS ------------------------------------------------------------------
# One switch for everything that only makes sense behind TLS; on by default in
# production so `manage.py check --deploy` is clean.
HTTPS = env.env_bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# Load balancers probe, and Prometheus scrapes a process directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env.env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "accounts.permissions.IsAuthenticatedOrOptions",
        "accounts.permissions.HasScope",
    ],
    # OPTIONS (CORS preflight, DRF metadata) needs no key: it says what the
    # endpoint is, never anything about a workspace.
    "DEFAULT_METADATA_CLASS": "config.metadata.PublicMetadata",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.SafeJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Outreach and automation hub API",
    "DESCRIPTION": (
        "Schedule, approve and execute outreach actions; manage contacts and automations. "
        "Authenticate with `Authorization: Bearer <api key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation's error answers, in its facade's envelope (config/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ActionStatusEnum": "outreach.models.ActionStatus",
        "DecisionEnum": "outreach.models.Decision",
        "StepTypeEnum": "outreach.models.StepType",
        "OutreachActionTypeEnum": "outreach.models.ActionType",
        "MagpipeStatusEnum": "outreach.api.magpipe.serializers.STATUS_WORDS",
        "MagpipeCreatableActionTypeEnum": "outreach.api.magpipe.serializers.CREATABLE_TYPES",
        "OutcomeEnum": ["success", "error"],
    },
}

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env.env_str("LOG_LEVEL", "INFO")
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOG_TICKS = env.env_bool("LOG_TICKS", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"quiet_ticks": {"()": "config.logging.QuietTicks"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # httpx logs every request line (with its query string, which may carry
        # personal data from an ApiCall's field mapping): warnings only.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # A once-a-second tick that did nothing logs nothing (config/logging.py),
        # unless LOG_TICKS=1 asks for every one (the reliability suite counts them).
        **{
            name: {"filters": [] if LOG_TICKS else ["quiet_ticks"]}
            for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
        },
    },
}
