"""Settings, read from the environment.

With nothing set, the system runs on embedded defaults: an SQLite file and no
message broker. Production and CI set DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis or RabbitMQ).
"""
import math
import os
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_text(name: str, default: str) -> str:
    """A value from the environment, stripped; unset or empty: `default`."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    raw = env_text(name, "").lower()
    if not raw:
        return default
    if raw not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false (1/0, yes/no, on/off)")
    return raw in {"1", "true", "yes", "on"}


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF reads it: <whole number>/<s, m, h or d, or a word starting so>."""
    raw = env_text(name, default)
    count, _, period = raw.partition("/")
    if not (count.isdigit() and count.isascii() and int(count) > 0 and period[:1] in {"s", "m", "h", "d"}):
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a rate such as 60/min (requests per s, min, hour "
                                   f"or day)")
    return raw


def env_number(name: str, default: int | float, *, minimum: int | float, whole: bool = False) -> int | float:
    """A number from the environment (unset or empty: `default`); anything else is one clear error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        raise ImproperlyConfigured(f"{name}={raw!r}: expected {'a whole number' if whole else 'a number'}")
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be at least {minimum}")
    return value


def env_database(name: str, default: str) -> dict:
    url = os.environ.get(name, "").strip() or default
    try:
        return dj_database_url.parse(url, conn_max_age=env_number("DATABASE_CONN_MAX_AGE", 60, minimum=0, whole=True))
    except (ValueError, dj_database_url.UnknownSchemeError) as exc:
        raise ImproperlyConfigured(f"{name}: not a database URL ({exc})") from None


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_text("DJANGO_SECRET_KEY", "insecure-embedded-default-change-me")
ALLOWED_HOSTS = [h.strip() for h in env_text("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "governance.rulefiles",
    "governance.parameters",
    "governance.positions",
    "governance.api",  # no models; its migrations hold the notification triggers, its tasks are found like the others'
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "governance.api.middleware.ApiCommonMiddleware",  # Django's, without the 301 for an API write
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # a remembered token's conditional GET of a contract: answered here, with the headers of the
    # three above, as the regular path would (governance.api.conditional)
    "governance.api.conditional.ContractFastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "governance.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "governance.wsgi.application"

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share the file: wait for locks instead of failing, take the write
    # lock at BEGIN (no deadlock on upgrade), and let readers proceed beside one writer
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# The rule files this deployment governs (contracts/, exchange.yaml, policy.yaml).
RULES_DIR = Path(env_text("RULES_DIR", str(BASE_DIR / "rules")))

# No broker by default: tasks then run in the calling process (eagerly). `make run` uses
# the server-less filesystem transport under var/celery; production sets Redis or RabbitMQ.
CELERY_BROKER_URL = env_text("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_text("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = not CELERY_RESULT_BACKEND
CELERY_TASK_DEFAULT_QUEUE = env_text("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless told to reuse
# it: a rollout chunk then paid for a new PostgreSQL connection each. A broken one is dropped
# before the next task (governance.celery.connections_drop_broken).
CELERY_DB_REUSE_MAX = env_number("CELERY_DB_REUSE_MAX", 1000, minimum=1, whole=True)
CELERY_TIMEZONE = "UTC"
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged message (its worker died mid-task: tasks are acked late) is handed to
    # another worker after this long; keep it above the longest task.
    _visibility = env_number("CELERY_VISIBILITY_TIMEOUT", 600.0, minimum=1)
    # kombu sweeps for such messages every interval x throttle seconds (100 s by default)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility, "unacked_restore_throttle": 1,
                                       "unacked_restore_interval": max(1, min(10, int(_visibility // 3)))}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = Path(env_text("CELERY_FILESYSTEM_DIR", str(BASE_DIR / "var" / "celery")))
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }

# django-celery-beat keeps the schedule in the database (editable in the admin) and
# seeds it from here.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
BEAT_INTERVAL_SECONDS = env_number("BEAT_INTERVAL_SECONDS", 30.0, minimum=1)
# A running rollout none of whose chunks was done this long (a lost message) has its undone chunks
# sent again (positions.services.rollouts_resume); checked as often.
ROLLOUTS_RESUME_SECONDS = env_number("ROLLOUTS_RESUME_SECONDS", 60.0, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "activate-due-versions": {"task": "parameters.versions_activate_due", "schedule": BEAT_INTERVAL_SECONDS},
    "expire-due-versions": {"task": "parameters.versions_expire_due", "schedule": 300.0},
    "resume-rollouts": {"task": "positions.rollouts_resume", "schedule": ROLLOUTS_RESUME_SECONDS},
    "refresh-impact-previews": {"task": "positions.impact_previews_refresh", "schedule": 120.0},
    "delete-expired-tokens": {"task": "api.tokens_expired_delete", "schedule": 3600.0},
}
# An impact preview is recomputed when its book has moved by more than this share (positions,
# entry notional, any mark) or the parameters in force changed.
IMPACT_PREVIEW_TOLERANCE = env_text("IMPACT_PREVIEW_TOLERANCE", "0.05")
try:
    if not 0 <= Decimal(IMPACT_PREVIEW_TOLERANCE) < 1:
        raise InvalidOperation
except InvalidOperation:
    raise ImproperlyConfigured(f"IMPACT_PREVIEW_TOLERANCE={IMPACT_PREVIEW_TOLERANCE!r}: expected a share, "
                               f"at least 0 and below 1") from None
# A preview still pending this long after it was requested is sent to a worker again (a lost
# message); a preview of the 1M-position bench book takes ~25 s.
IMPACT_PREVIEW_RESEND_SECONDS = env_number("IMPACT_PREVIEW_RESEND_SECONDS", 600.0, minimum=1)
# Positions per rollout chunk: one SQL statement and one task each.
# Each chunk also costs ~30 ms outside its statement (locks, terms, numbering, commit): at 50,000
# a 1M-position rollout is 20 chunks, 13% faster than 50 of 20,000 (bench/rollout.py).
ROLLOUT_CHUNK_SIZE = env_number("ROLLOUT_CHUNK_SIZE", 50000, minimum=1, whole=True)

LOG_LEVEL = env_text("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# The default cache holds the API's throttling counters, so it must be shared by every web
# process: Redis in production (CACHE_URL=redis://host:6379/1), files under var/cache otherwise.
_cache_url = env_text("CACHE_URL", "")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "governance.cache.RedisCache", "LOCATION": _cache_url}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": env_text("CACHE_DIR", str(BASE_DIR / "var" / "cache"))}}

# The API (/api/v1/): read with a session or a revocable, hashed knox token; one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["governance.api.tokens.TokenAuthentication",
                                       "rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON in only: one body format to validate and document; a form body is a 415
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.JSONParser"],
    # the format is negotiated by Accept only: ?format=xml was a bare 404 on every endpoint
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.Pages",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Counted in the default cache, which every web process shares (see CACHES): a fixed window
    # per caller, counts sent to Redis in batches of at most 1 % of the rate (governance.api.throttles)
    "DEFAULT_THROTTLE_CLASSES": ["governance.api.throttles.AnonRateThrottle",
                                "governance.api.throttles.UserRateThrottle"],
    # The caller's address is the connection's unless proxies in front add theirs to
    # X-Forwarded-For: else any client would pick its own address, and its own throttle
    "NUM_PROXIES": env_number("API_TRUSTED_PROXIES", 0, minimum=0, whole=True),
    "DEFAULT_THROTTLE_RATES": {"anon": env_rate("API_THROTTLE_ANON", "60/min"),
                               "user": env_rate("API_THROTTLE_USER", "6000/min")},
}
# Web processes remember tokens and the contracts' ETags and bodies now, forgetting them on
# PostgreSQL notifications at commit (governance.api.invalidation); never on SQLite.
API_PROCESS_CACHE = env_bool("API_PROCESS_CACHE", True)
# Rows per upsert request: one transaction each, so that a batch stays a few seconds' work.
API_UPSERT_MAX_ROWS = env_number("API_UPSERT_MAX_ROWS", 10000, minimum=1, whole=True)
# A request body Django reads at most: room for API_UPSERT_MAX_ROWS rows even pretty-printed
# (a row is ~300 bytes indented), never below Django's 2.5 MB default. Beyond it: a JSON 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, API_UPSERT_MAX_ROWS * 1024)
# Knox tokens are stored hashed; they expire after API_TOKEN_HOURS and can be revoked (logout).
REST_KNOX = {"TOKEN_TTL": timedelta(hours=env_number("API_TOKEN_HOURS", 720.0, minimum=0.01)),
             "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "Margin parameter governance API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # request bodies get their own components, so required strings carry minLength 1
    "COMPONENT_SPLIT_REQUEST": True,
    # the interactive page's assets are served from this app, never from a CDN
    "SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR",
}
