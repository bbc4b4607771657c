"""docker-compose.yml, read as data: no Docker engine runs where the tests do (DESIGN §5).

Checks that the services are there, that the app containers set only variables settings.py reads
(a misspelt name would be silently ignored by the app), and that the commands are the right ones.
"""

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_SOURCE = ROOT / "starexport" / "settings.py"

APP_SERVICES = ("web", "worker", "beat")
PRODUCTION_NEEDS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "AWS_STORAGE_BUCKET_NAME", "STAREXPORT_TOKEN_KEY")

# env.str("NAME", ...), env.int(...), env.db(...), env.email_url(...), _secret("NAME"), and the
# bare environ.Env().str("STAREXPORT_VAR_DIR") that runs before `env` exists.
READ_CALL = re.compile(
    r'(?:\benv\.(?:str|int|bool|float|list|db|email_url)|environ\.Env\(\)\.str|\b_secret)\(\s*"([A-Z][A-Z0-9_]*)"'
)
SECRET_CALL = re.compile(r'\b_secret\(\s*"([A-Z][A-Z0-9_]*)"')
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def names_settings_reads() -> set[str]:
    source = SETTINGS_SOURCE.read_text()
    names = set(READ_CALL.findall(source))
    # _secret("X") also reads X_FILE (a path to a file holding the value).
    names |= {f"{name}_FILE" for name in SECRET_CALL.findall(source)}
    # The OAuth client ids are read in a loop over the platforms (platforms/oauth.py, handed
    # settings' _secret): secret(f"{slug.upper()}_CLIENT_ID").
    wiring = (SETTINGS_SOURCE.parent.parent / "platforms" / "oauth.py").read_text()
    assert "_oauth.provider_settings(_secret)" in source
    assert 'secret(f"{slug.upper()}_CLIENT_ID")' in wiring
    assert 'secret(f"{slug.upper()}_CLIENT_SECRET")' in wiring
    for slug in settings.PROVIDER_PLATFORM.values():
        for suffix in ("CLIENT_ID", "CLIENT_SECRET"):
            names |= {f"{slug.upper()}_{suffix}", f"{slug.upper()}_{suffix}_FILE"}
    return names


def resolve(value: str) -> str:
    """What docker compose makes of a value when the operator's .env sets nothing optional."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else f"<{m.group(1)}>", value)


def as_text(command) -> str:
    return " ".join(command) if isinstance(command, list) else str(command)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def test_the_pattern_finds_what_settings_reads():
    names = names_settings_reads()
    # A sample of each way settings.py reads the environment, so a broken pattern cannot pass.
    for name in ("DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS", "DATABASE_URL", "EMAIL_URL"):
        assert name in names
    for name in ("STAREXPORT_HTTP_TIMEOUT", "CELERY_TASK_SOFT_TIME_LIMIT", "STAREXPORT_VAR_DIR", "REDDIT_CLIENT_ID"):
        assert name in names


def test_every_service_is_there(services):
    for name in (*APP_SERVICES, "postgres", "redis"):
        assert name in services, f"no {name} service"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    stores = [name for name, service in services.items() if str(service.get("image", "")).startswith("minio/minio")]
    assert stores, "no S3-compatible store (minio) service"


def test_the_bucket_is_created_by_a_one_shot_service_before_the_web_starts(services):
    bucket = environment(services["web"])["AWS_STORAGE_BUCKET_NAME"]
    makers = [name for name, s in services.items() if str(s.get("image", "")).startswith("minio/mc")]
    assert len(makers) == 1
    maker = services[makers[0]]
    script = as_text(maker.get("entrypoint", "")) + " " + as_text(maker.get("command", ""))
    assert f"mc mb --ignore-existing local/{bucket}" in script
    assert services["web"]["depends_on"][makers[0]]["condition"] == "service_completed_successfully"


def test_the_app_services_share_one_image_and_one_environment(services):
    builds = {str(services[name].get("build")) for name in APP_SERVICES}
    assert builds == {"."}
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "uv sync --frozen" in dockerfile
    first = environment(services[APP_SERVICES[0]])
    for name in APP_SERVICES[1:]:
        assert environment(services[name]) == first


def test_the_app_services_set_only_variables_settings_reads(services):
    known = names_settings_reads()
    for name in APP_SERVICES:
        unknown = sorted(set(environment(services[name])) - known)
        assert not unknown, f"{name} sets {unknown}, which starexport/settings.py never reads"


def test_the_app_services_set_what_production_needs(services):
    for name in APP_SERVICES:
        env = environment(services[name])
        missing = [var for var in PRODUCTION_NEEDS if not env.get(var)]
        assert not missing, f"{name} lacks {missing}"
        # Strings, as compose wants them: a bare `false` would reach YAML as a boolean.
        assert all(isinstance(value, str) for value in env.values()), name
        assert env["DEBUG"] == "false"


def test_the_app_talks_to_the_services_of_this_file(services):
    env = {key: resolve(value) for key, value in environment(services["web"]).items()}
    assert urlsplit(env["DATABASE_URL"]).hostname == "postgres"
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    if "CACHE_REDIS_URL" in env:
        cache, broker = urlsplit(env["CACHE_REDIS_URL"]), urlsplit(env["REDIS_URL"])
        assert cache.hostname == "redis"
        assert cache.path != broker.path, "the cache shares the broker's Redis database"
    endpoint = urlsplit(env["AWS_S3_ENDPOINT_URL"])
    assert endpoint.hostname in services
    assert str(services[endpoint.hostname]["image"]).startswith("minio/minio")


def test_the_web_migrates_collects_static_files_then_runs_gunicorn(services):
    command = as_text(services["web"]["command"])
    migrate, collect = command.find("manage.py migrate"), command.find("manage.py collectstatic")
    gunicorn = command.find("gunicorn starexport.wsgi")
    assert -1 < migrate < collect < gunicorn, command
    assert "0.0.0.0:8000" in command
    assert any(str(port).endswith("8000") for port in services["web"]["ports"])


def test_the_worker_runs_a_celery_worker_without_its_own_beat(services):
    command = shlex.split(as_text(services["worker"]["command"]))
    assert command[:4] == ["celery", "-A", "starexport", "worker"], command
    # One beat per installation: a worker with -B would send every periodic task twice.
    assert "-B" not in command and "--beat" not in command


def test_there_is_one_beat_on_the_database_scheduler(services):
    command = shlex.split(as_text(services["beat"]["command"]))
    assert command[:4] == ["celery", "-A", "starexport", "beat"], command
    assert "django_celery_beat.schedulers:DatabaseScheduler" in " ".join(command)
    assert (services["beat"].get("deploy") or {}).get("replicas", 1) == 1
    beats = [name for name, s in services.items() if " beat" in as_text(s.get("command", ""))]
    assert beats == ["beat"]


def test_the_image_has_the_binaries_delivery_and_encryption_run(services):
    dockerfile = DOCKERFILE.read_text()
    installs = re.search(r"apt-get install -y --no-install-recommends ([^\n&\\]+)", dockerfile)
    assert installs, "the image installs nothing from Debian"
    packages = set(installs.group(1).split())
    # rclone copies archives to rclone remotes (api/delivery.py); age opens encrypted ones.
    assert {"rclone", "age"} <= packages
    assert "rm -rf /var/lib/apt/lists/*" in dockerfile


def test_the_image_holds_every_app_of_ours_that_settings_installs():
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE.read_text(), re.MULTILINE))
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert ours - copied == set()
    assert {"starexport", "templates", "static"} <= copied
