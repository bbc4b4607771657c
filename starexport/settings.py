"""Star Export settings: one module, driven by the environment.

Without any environment the project runs on embedded defaults (SQLite, a filesystem broker, local
storage, console email) so `make demo` needs no server. Production differs only by environment
variables; see docs/configuration.md.
"""

from pathlib import Path

import environ

from platforms import oauth as _oauth

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("STAREXPORT_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# Secrets may come from files (Docker/Kubernetes secrets): SECRET_KEY_FILE=/run/secrets/key.
environ.Env.smart_cast = True


def _secret(name, default=""):
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
# The development default starts with "django-insecure-" so `check --deploy` flags it.
SECRET_KEY = _secret("SECRET_KEY", default="django-insecure-dev-only-key-change-me-0123456789abcdefghijkl")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_celery_beat",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    # Ours, each in its platform's folder: Instagram's current login, and X and Reddit with URLs
    # settings can point elsewhere. A new platform adds its provider here (platforms/<slug>/oauth.py).
    "platforms.instagram.provider",
    "platforms.twitter.provider",
    "platforms.reddit.provider",
    "accounts",
    "platforms",
    "exports",
    "api",
    "library",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "starexport.urls"
WSGI_APPLICATION = "starexport.wsgi.application"

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
            ],
            # `|http_url` everywhere: a URL from a platform or an archive is a link only if http(s).
            "builtins": ["platforms.safety"],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "starexport.sqlite3",
            # WAL lets the web process read while the worker writes; IMMEDIATE avoids the
            # "database is locked" upgrade deadlock between two writers.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
# Persistent connections, SQLite's too: opening one per request (with its PRAGMAs) took longer
# than the rest of a status.json poll (1.0 ms of 1.7).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage ------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "storage")))
MEDIA_URL = "/media/"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    from boto3.s3.transfer import TransferConfig

    _file_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": _secret("AWS_ACCESS_KEY_ID") or None,
            "secret_key": _secret("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": True,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=600),
            "signature_version": "s3v4",
            # The archive is a stream generated on the calling thread (it reads the database);
            # s3transfer's thread pool would read it from other threads.
            "transfer_config": TransferConfig(use_threads=False),
        },
    }
else:
    _file_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _file_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env.bool("STAREXPORT_MANIFEST_STATIC", default=False)
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}

# --- Email -------------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Star Export <noreply@localhost>")

# --- Celery ------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # A database of its own is kinder: clearing the cache must not drop queued tasks.
            "LOCATION": env.str("CACHE_REDIS_URL", default=REDIS_URL),
        }
    }
else:
    # The demo's embedded broker: kombu's filesystem transport, shared by web and worker.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    (VAR_DIR / "results").mkdir(parents=True, exist_ok=True)
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'results'}"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Every signed-in request reads its session: from the cache (Redis; the demo's file cache), with
# the database behind it, so a session outlives a flushed cache.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# django-ratelimit lists only memcached and django-redis; Django's own RedisCache increments
# atomically too. The demo's file cache is not atomic, which only makes its limit approximate.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + ([] if REDIS_URL else ["django_ratelimit.E003"])

# The longest task is the archive of a big job; Redis must not hand a task to a second worker
# while the first still runs it, so the visibility timeout is well above the hard limit.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {
        "task": "exports.tasks.sweep_stale_jobs",
        "schedule": env.float("STAREXPORT_SWEEP_SECONDS", default=5.0),
    },
    "expire-archives": {"task": "exports.tasks.expire_archives", "schedule": 3600.0},
    "sweep-abandoned-uploads": {"task": "exports.upload_tasks.sweep_abandoned_uploads", "schedule": 3600.0},
    "resend-lost-deliveries": {"task": "api.tasks.resend_lost_deliveries", "schedule": 600.0},
}
# autodiscover_tasks() finds only each app's tasks.py; the upload sweep lives beside it.
CELERY_IMPORTS = ["exports.upload_tasks"]

# --- allauth -----------------------------------------------------------------------------------
SITE_ID = 1
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# Sign-up never tells whether an address has an account: with mandatory verification allauth
# answers "we sent you an email" either way and mails the owner of a taken address instead. That
# needs mail that reaches people; with console email (the demo, development) nobody could verify,
# so there verification is optional, and a taken address is still refused on the form.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="mandatory" if env.str("EMAIL_URL", default="") else "optional"
)
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = True
SOCIALACCOUNT_ADAPTER = "accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_QUERY_EMAIL = True

STAREXPORT_SANDBOX = env.str("STAREXPORT_SANDBOX", default="").rstrip("/")

# Each platform's scopes, provider settings and sandbox URLs live in platforms/<slug>/oauth.py;
# client ids come from the environment.
PROVIDER_PLATFORM = _oauth.provider_platform()
SOCIALACCOUNT_PROVIDERS = _oauth.provider_settings(_secret)
if STAREXPORT_SANDBOX:
    _oauth.sandbox_provider_settings(SOCIALACCOUNT_PROVIDERS, STAREXPORT_SANDBOX)
# OAuth tokens are stored only encrypted under this key (accounts/tokens.py); without one,
# connecting an account is refused and `check --deploy` is an error. The demo keeps a generated
# key in var/token.key (`manage.py token_key`), read when the environment names none.
TOKEN_KEY_PATH = VAR_DIR / "token.key"
STAREXPORT_TOKEN_KEY = _secret("STAREXPORT_TOKEN_KEY") or (
    TOKEN_KEY_PATH.read_text().strip() if TOKEN_KEY_PATH.is_file() else ""
)

# --- Star Export -------------------------------------------------------------------------------
STAREXPORT = {
    "MAX_ACTIVE_JOBS_PER_USER": env.int("STAREXPORT_MAX_ACTIVE_JOBS", default=5),
    # New exports one user may start, per django-ratelimit's rate syntax.
    "CREATE_RATE": env.str("STAREXPORT_CREATE_RATE", default="20/h"),
    "STEP_ATTEMPTS": env.int("STAREXPORT_STEP_ATTEMPTS", default=3),
    "LEASE_SECONDS": env.int("STAREXPORT_LEASE_SECONDS", default=20),
    "DOWNLOAD_CONCURRENCY": env.int("STAREXPORT_DOWNLOAD_CONCURRENCY", default=8),
    "DOWNLOAD_PER_HOST": env.int("STAREXPORT_DOWNLOAD_PER_HOST", default=8),
    # Attempts per media file and per API page, each attempt one request (the retry policy).
    "DOWNLOAD_ATTEMPTS": env.int("STAREXPORT_DOWNLOAD_ATTEMPTS", default=5),
    "API_ATTEMPTS": env.int("STAREXPORT_API_ATTEMPTS", default=4),
    # One request budget per platform app, shared by every worker (platforms/budget.py): where it
    # is kept (Redis for more than one process), and slack added to each window.
    "BUDGETS": env.bool("STAREXPORT_BUDGETS", default=True),
    "BUDGET_STORAGE": env.str("STAREXPORT_BUDGET_URL", default=REDIS_URL or "memory://"),
    "BUDGET_MARGIN_SECONDS": env.float("STAREXPORT_BUDGET_MARGIN_SECONDS", default=2.0),
    # Length of a quota day in seconds, for tests only (0: the platform's real day).
    "QUOTA_DAY_SECONDS": env.int("STAREXPORT_QUOTA_DAY_SECONDS", default=0),
    "DOWNLOAD_CHUNK_FILES": env.int("STAREXPORT_DOWNLOAD_CHUNK_FILES", default=50),
    "HTTP_TIMEOUT": env.float("STAREXPORT_HTTP_TIMEOUT", default=30.0),
    "ARCHIVE_DAYS": env.int("STAREXPORT_ARCHIVE_DAYS", default=7),
    "LINK_DAYS": env.int("STAREXPORT_LINK_DAYS", default=7),
    "MAX_PAGES_PER_RESOURCE": env.int("STAREXPORT_MAX_PAGES", default=1000),
    # The largest "at most this many records" a person may ask for.
    # A platform whose last OUTAGE_REQUESTS requests all failed (5xx, timeouts) is paused for
    # every job, first for OUTAGE_PAUSE_SECONDS, doubled after each failed try up to the maximum;
    # after OUTAGE_GIVE_UP_SECONDS without an answer its files fail with their reasons.
    "OUTAGE_REQUESTS": env.int("STAREXPORT_OUTAGE_REQUESTS", default=8),
    "OUTAGE_PAUSE_SECONDS": env.float("STAREXPORT_OUTAGE_PAUSE_SECONDS", default=30.0),
    "OUTAGE_MAX_PAUSE_SECONDS": env.float("STAREXPORT_OUTAGE_MAX_PAUSE_SECONDS", default=600.0),
    "OUTAGE_GIVE_UP_SECONDS": env.float("STAREXPORT_OUTAGE_GIVE_UP_SECONDS", default=1800.0),
    "MAX_RECORDS_LIMIT": env.int("STAREXPORT_MAX_RECORDS_LIMIT", default=1_000_000),
    # Uploaded official archives: the largest accepted, and the size of each piece the browser sends.
    "UPLOAD_MAX_BYTES": env.int("STAREXPORT_UPLOAD_MAX_BYTES", default=20 * 1024**3),
    "UPLOAD_CHUNK_BYTES": env.int("STAREXPORT_UPLOAD_CHUNK_BYTES", default=8 * 1024**2),
    # What one person may have under way at once, so that nobody fills the disk: unfinished
    # uploads, and the bytes they announced. Free space is checked too, keeping a margin.
    "UPLOAD_MAX_OPEN_PER_USER": env.int("STAREXPORT_UPLOAD_MAX_OPEN", default=10),
    "UPLOAD_MAX_RESERVED_BYTES_PER_USER": env.int("STAREXPORT_UPLOAD_MAX_RESERVED_BYTES", default=20 * 1024**3),
    "UPLOAD_DISK_MARGIN_BYTES": env.int("STAREXPORT_UPLOAD_DISK_MARGIN_BYTES", default=2 * 1024**3),
    # An upload nothing was added to for this long is removed with its partial file.
    "UPLOAD_ABANDONED_HOURS": env.float("STAREXPORT_UPLOAD_ABANDONED_HOURS", default=24.0),
    # The REST API: requests per personal token, in django-ratelimit's rate syntax.
    "API_RATE": env.str("STAREXPORT_API_RATE", default="600/m"),
    # Webhooks: how many endpoints a user may register, how long one delivery waits for an answer,
    # and the pauses between attempts (Standard Webhooks' suggested schedule), for at most a day.
    "WEBHOOKS_PER_USER": env.int("STAREXPORT_WEBHOOKS_PER_USER", default=10),
    "WEBHOOK_TIMEOUT": env.float("STAREXPORT_WEBHOOK_TIMEOUT", default=10.0),
    "WEBHOOK_RETRY_DELAYS": [
        int(s)
        for s in env.list(
            "STAREXPORT_WEBHOOK_RETRY_DELAYS", default=["5", "60", "300", "1800", "7200", "18000", "36000", "21600"]
        )
    ],
    "WEBHOOK_RETRY_SECONDS": env.int("STAREXPORT_WEBHOOK_RETRY_SECONDS", default=24 * 3600),
    # Delivery to a user's own storage: attempts per archive, and origins on private networks an
    # operator allows as destinations ("http://nas.lan:9000"; a self-hosted MinIO at home).
    "DELIVERY_ATTEMPTS": env.int("STAREXPORT_DELIVERY_ATTEMPTS", default=5),
    "DELIVERY_PRIVATE_ORIGINS": env.list("STAREXPORT_DELIVERY_PRIVATE_ORIGINS", default=[]),
}

# --- Security ----------------------------------------------------------------------------------
# Every page: scripts and styles only from our own static files, nothing inline, no eval, no
# plugins, no <base>, never in a frame. htmx runs under it (templates/base.html turns off the
# inline style it would add and its eval). No form-action: connecting an account posts to a
# page that redirects to the platform, and browsers apply form-action to that redirect.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG and env.bool("STAREXPORT_HTTPS", default=False):
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # urllib3 logs every retry with the full URL, query included, which may hold a token.
        "urllib3.connectionpool": {"level": "ERROR"},
    },
}
