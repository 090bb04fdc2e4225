"""HeyGem settings: one module, read from the environment (see README, "Configuration").

Defaults run a laptop with no system service: SQLite under var/, the embedded Redis that
`manage.py serve` starts, files under var/media/. Importing this module has no side effects:
it creates no directory, starts no process and generates no key.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from heygem_site.api_guide import QUICK_START
from heygem_site.env import env_bool, env_choice, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HEYGEM_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("HEYGEM_DEBUG", False)

# `manage.py serve` writes a generated key to var/secret_key and passes its path in
# HEYGEM_SECRET_KEY_FILE; a deployment sets HEYGEM_SECRET_KEY (or _FILE) itself.
SECRET_KEY = env_str("HEYGEM_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "HEYGEM_SECRET_KEY (or HEYGEM_SECRET_KEY_FILE) must be set unless HEYGEM_DEBUG is true. "
            "`make run` sets it for you."
        )
    SECRET_KEY = "django-insecure-debug-only-key"

ALLOWED_HOSTS = env_list("HEYGEM_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("HEYGEM_CSRF_TRUSTED_ORIGINS", [])

HOST = env_str("HEYGEM_HOST", "127.0.0.1")
PORT = env_int("HEYGEM_PORT", 7860, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "heygem_site",
    "accounts",
    "jobs",
]

MIDDLEWARE = [
    # First: forwarded headers count only from a trusted proxy (heygem_site/proxies.py).
    "heygem_site.proxies.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "heygem_site.headers.ContentSecurityPolicyMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the backend into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "heygem_site.urls"
WSGI_APPLICATION = "heygem_site.wsgi.application"
ASGI_APPLICATION = "heygem_site.asgi.application"

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
                "django.template.context_processors.i18n",
                "accounts.context_processors.current_team",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another (postgres://user:pass@host:5432/db).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'heygem.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to the same file; WAL and a busy timeout keep them
    # from failing each other with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis carries messages only (Dramatiq's queue, Channels' fan-out); PostgreSQL holds the facts.
# Without REDIS_URL, `manage.py serve` starts an embedded Redis on a Unix socket under var/.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "run" / "redis.sock"
REDIS_URL = env_str("REDIS_URL", f"unix://{EMBEDDED_REDIS_SOCKET}")
USE_EMBEDDED_REDIS = not env_str("REDIS_URL", "")

DRAMATIQ_NAMESPACE = env_str("HEYGEM_QUEUE_NAMESPACE", "heygem")

# The cache holds only short-lived counters and locks (API rate limits), shared by every web process. Its keys
# start with the queue namespace, so a test run's are cleared with its queues.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{DRAMATIQ_NAMESPACE}-cache",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("HEYGEM_CHANNELS_PREFIX", "heygem")},
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
# A link inviting someone into a team stays valid this long (and only until it is accepted or declined).
INVITATION_SECONDS = env_int("HEYGEM_INVITATION_HOURS", 72, minimum=1) * 3600

# Sign-in rate limit: after AXES_FAILURE_LIMIT failures for one username from one address, that
# pair is locked out for the cool-off period (HTTP 429).
AXES_FAILURE_LIMIT = env_int("HEYGEM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HEYGEM_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "heygem_site.proxies.client_address"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("HEYGEM_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("HEYGEM_MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()

STORAGE_BACKEND = env_choice("HEYGEM_STORAGE", "local", ("local", "s3"))
# Download links to S3 objects are presigned and live this long: enough to start a video, not to pass around.
S3_URL_SECONDS = env_int("HEYGEM_S3_URL_SECONDS", 300, minimum=10, maximum=7 * 24 * 3600)


def s3_storage(bucket, endpoint="", region="", access_key="", secret_key="", addressing_style=""):
    """django-storages' S3 backend on `bucket`. Empty credentials mean boto3's own chain (an instance role)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint or None,
            "region_name": region or None,
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            # A self-hosted server (SeaweedFS, MinIO, Ceph) at an address has no per-bucket host names.
            "addressing_style": addressing_style or ("path" if endpoint else None),
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": S3_URL_SECONDS,
            # Names are unique already (output_path, Asset ids); skipping the check saves a HEAD per save.
            "file_overwrite": True,
            # django-storages reads an object whole when a file is opened; past this it spills to disk
            # (its default, 0, means never: a 2 GB video would sit in memory).
            "max_memory_size": 2 * 1024 * 1024,
        },
    }


if STORAGE_BACKEND == "s3":
    _default_storage = s3_storage(
        env_str("AWS_STORAGE_BUCKET_NAME"), env_str("AWS_S3_ENDPOINT_URL", ""), env_str("AWS_S3_REGION_NAME", ""),
        env_str("AWS_ACCESS_KEY_ID", ""), env_str("AWS_SECRET_ACCESS_KEY", ""),
        env_choice("AWS_S3_ADDRESSING_STYLE", "", ("", "auto", "path", "virtual")))
else:
    # Files under MEDIA_ROOT. No public URL serves them: downloads go through views that check access.
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedStaticFilesStorage"},
}

# Uploads stream to temporary files on disk, never whole into memory.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # Form fields and JSON bodies, not files.
FILE_UPLOAD_TEMP_DIR = env_str("HEYGEM_UPLOAD_TEMP_DIR", "") or None
UPLOAD_PARTS_DIR = VAR_DIR / "uploads"  # Resumable uploads in progress.
# Open resumable uploads reserve their declared size against the team's quota and the free disk, so a
# person may hold only this many at once, and one that receives nothing for this long expires.
MAX_OPEN_UPLOADS = env_int("HEYGEM_MAX_OPEN_UPLOADS", 20, minimum=1)
UPLOAD_EXPIRY_SECONDS = env_int("HEYGEM_UPLOAD_EXPIRY_HOURS", 24, minimum=1) * 3600
# On S3 each chunk of a resumable upload is sent as one part and waits in a temporary file meanwhile: at most
# this big (S3's own limit is 5 GB a part; the web page sends 8 MB chunks).
UPLOAD_PART_MAX_BYTES = env_int("HEYGEM_UPLOAD_PART_MAX_MB", 64, minimum=6, maximum=5120) * 1024 * 1024

# What an upload may be (checked on the probed content, not the file name).
MAX_UPLOAD_BYTES = env_int("HEYGEM_MAX_UPLOAD_MB", 2048, minimum=1) * 1024 * 1024
MAX_INPUT_SECONDS = env_int("HEYGEM_MAX_INPUT_MINUTES", 30, minimum=1) * 60
MAX_VIDEO_PIXELS = env_int("HEYGEM_MAX_VIDEO_PIXELS", 3840 * 2160, minimum=1)
# The neural (Wav2Lip) engine: a checkpoint file on the worker's disk (wav2lip.pth, wav2lip_gan.pth or a
# fine-tune); empty means none, and "auto" jobs use retrieval or the warp. Nothing is ever downloaded.
WAV2LIP_CHECKPOINT = env_str("HEYGEM_WAV2LIP_CHECKPOINT", "").strip()
# Half-precision autocast for that engine on a CUDA worker (ignored on CPU).
WAV2LIP_FP16 = env_bool("HEYGEM_WAV2LIP_FP16", False)
# MuseTalk 1.5: the official `models/` folder on the worker's disk (musetalkV15/, sd-vae/, whisper/,
# face-parse-bisent/); empty means none. "auto" jobs use it on a worker with a GPU. Nothing is ever downloaded.
MUSETALK_DIR = env_str("HEYGEM_MUSETALK_DIR", "").strip()
# Half-precision autocast for its UNet and VAE on a CUDA worker (ignored on CPU).
MUSETALK_FP16 = env_bool("HEYGEM_MUSETALK_FP16", False)
# Frames per UNet/VAE call: higher is faster on a large GPU, until its memory runs out.
MUSETALK_BATCH = env_int("HEYGEM_MUSETALK_BATCH", 8, minimum=1)
# A local wav2vec2-family model directory (save_pretrained layout) whose features drive the retrieval
# engine's acoustic matching instead of log-mels. Never fetched from the Hub.
WAV2VEC2_MODEL = env_str("HEYGEM_WAV2VEC2_MODEL", "").strip()
# Scripts (text-to-speech): folders of Piper voices (NAME.onnx beside NAME.onnx.json), comma-separated, offered
# beside the bundled English voice and espeak-ng's. Read from disk on the web and worker hosts alike.
VOICES_DIRS = env_list("HEYGEM_VOICES_DIRS", [])
# A script's preview is spoken on the web server, not a worker: each person may ask for this many a minute, and
# one at a time.
VOICE_PREVIEWS_PER_MINUTE = env_int("HEYGEM_VOICE_PREVIEWS_PER_MINUTE", 10, minimum=1)
# The longest script (characters) a job or a preview takes. A script the minute limit allows is far shorter
# (under 47,000 characters for 30 minutes at double speed); this only spares the server reading megabytes.
MAX_SCRIPT_CHARS = env_int("HEYGEM_MAX_SCRIPT_CHARS", 100_000, minimum=1)

# Retention, site defaults (a team's quota may override each): finished outputs and unused uploads
# are deleted after this many days; a user's videos beyond this many GB go oldest first (0: no cap).
RETENTION_OUTPUT_DAYS = env_int("HEYGEM_KEEP_OUTPUTS_DAYS", 30, minimum=1)
RETENTION_UPLOAD_DAYS = env_int("HEYGEM_KEEP_UPLOADS_DAYS", 30, minimum=1)
RETENTION_USER_STORAGE_GB = env_int("HEYGEM_USER_STORAGE_GB", 0, minimum=0)
RETENTION_INTERVAL_SECONDS = env_int("HEYGEM_RETENTION_INTERVAL_MINUTES", 60, minimum=1) * 60
# New jobs and uploads are refused while the storage volume has less free space than this.
MIN_FREE_DISK_BYTES = env_int("HEYGEM_MIN_FREE_DISK_MB", 1024, minimum=0) * 1024 * 1024
# Workers announce themselves in Redis this often; /readyz wants one seen within 3 periods.
WORKER_HEARTBEAT_SECONDS = env_int("HEYGEM_WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
# What a worker offers (jobs/queue.py): "auto" looks for a CUDA GPU; "yes" or "no" says it (a GPU kept for
# something else, or a test). With the weights configured above, it decides which jobs the worker takes.
WORKER_GPU = env_choice("HEYGEM_WORKER_GPU", "auto", ("auto", "yes", "no"))
# The queues a worker consumes, comma-separated; empty: those its GPU and weights allow (`manage.py worker_queues`).
WORKER_QUEUES = env_list("HEYGEM_WORKER_QUEUES", [])
# A worker that has had nothing to do for this long stops (0: never), for workers run as jobs that should end
# when their queue is empty (a KEDA ScaledJob, docs/deploy.md).
WORKER_EXIT_WHEN_IDLE_SECONDS = env_int("HEYGEM_WORKER_EXIT_WHEN_IDLE_SECONDS", 0, minimum=0)
# /metrics answers staff and these networks (Prometheus scrapes from inside).
METRICS_ALLOWED_NETWORKS = env_networks("HEYGEM_METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
# Logs: JSON lines to stderr and to a size-capped rotating file, so no log can fill the disk.
LOG_DIR = VAR_DIR / "log"
LOG_FILE_MB = env_int("HEYGEM_LOG_FILE_MB", 10, minimum=1)
LOG_FILE_COUNT = env_int("HEYGEM_LOG_FILES", 5, minimum=1)

# The scheduler (started by `manage.py serve`) runs the reaper this often.
SCHEDULER_INTERVAL_SECONDS = env_int("HEYGEM_SCHEDULER_INTERVAL_SECONDS", 30, minimum=1)
# Workers: a result whose worker has not reported for this long is re-queued once, then failed.
WORKER_LOST_AFTER_SECONDS = env_int("HEYGEM_WORKER_LOST_AFTER_SECONDS", 300, minimum=10)
PROGRESS_INTERVAL_SECONDS = 1.0
WEBHOOK_TIMEOUT_SECONDS = 10
# Webhooks go to public addresses only; these networks are allowed as well (a receiver on the LAN).
WEBHOOK_ALLOWED_NETWORKS = env_networks("HEYGEM_WEBHOOK_ALLOWED_NETWORKS", [])

# New teams start with these quotas; an admin changes them per team.
DEFAULT_QUOTA_STORAGE_BYTES = env_int("HEYGEM_QUOTA_STORAGE_GB", 50, minimum=0) * 1024**3
DEFAULT_QUOTA_CONCURRENT_JOBS = env_int("HEYGEM_QUOTA_CONCURRENT_JOBS", 4, minimum=0)
DEFAULT_QUOTA_MONTHLY_MINUTES = env_int("HEYGEM_QUOTA_MONTHLY_MINUTES", 600, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only, unless a view says otherwise (uploads take multipart or raw bytes).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "heygem_site.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HeyGem API",
    "DESCRIPTION": QUICK_START,  # Markdown: a quick start at the top of /api/docs/.
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # Served from this site: no CDN, works offline.
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Ids in paths are whole numbers the database can hold (heygem_site/ids.py).
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "heygem_site.api_schema.add_error_responses"],
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# --- Behind an HTTPS reverse proxy: nginx/, `make https`, docs/deploy.md ---
BEHIND_HTTPS_PROXY = env_bool("HEYGEM_BEHIND_HTTPS_PROXY", False)
# Peers whose X-Forwarded-* headers are believed; everyone else's are dropped (heygem_site/proxies.py).
# Behind a proxy on this host (`make https`, docs/deploy.md) that is the loopback interface.
TRUSTED_PROXIES = env_networks("HEYGEM_TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"] if BEHIND_HTTPS_PROXY else [])
if BEHIND_HTTPS_PROXY:
    # The proxy overwrites X-Forwarded-Proto on every request; from anyone else the header is dropped, so a
    # client reaching the app port directly cannot claim to be on HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Load balancers and Prometheus probe the app port directly, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("HEYGEM_SECURE_COOKIES", BEHIND_HTTPS_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Off by default: a year of HSTS for "localhost" would break `make run`'s plain-HTTP address.
SECURE_HSTS_SECONDS = env_int("HEYGEM_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HEYGEM_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("HEYGEM_HSTS_PRELOAD", False)
# With local storage, a download view checks access and then hands the file to nginx with
# X-Accel-Redirect (an `internal` location), so no app process streams gigabytes.
MEDIA_X_ACCEL = env_bool("HEYGEM_X_ACCEL_REDIRECT", False)
MEDIA_X_ACCEL_PREFIX = "/internal-media/"
# The nginx that `manage.py serve --https` (`make https`) runs in front of the app.
HTTPS_PORT = env_int("HEYGEM_HTTPS_PORT", 8443, minimum=1, maximum=65535)
HTTP_REDIRECT_PORT = env_int("HEYGEM_HTTP_PORT", 8080, minimum=1, maximum=65535)
TLS_CERT_FILE = env_str("HEYGEM_TLS_CERT_PATH", "") or str(VAR_DIR / "tls" / "localhost.crt")
TLS_KEY_FILE = env_str("HEYGEM_TLS_KEY_PATH", "") or str(VAR_DIR / "tls" / "localhost.key")

LOG_LEVEL = env_choice("HEYGEM_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "heygem_site.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json"},
        "file": {"()": "heygem_site.logs.SizeCappedFile", "directory": str(LOG_DIR),
                 "max_bytes": LOG_FILE_MB * 1024 * 1024, "backups": LOG_FILE_COUNT, "formatter": "json"},
    },
    "root": {"handlers": ["stderr", "file"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
