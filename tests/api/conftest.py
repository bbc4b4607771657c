import pytest
from django.core.cache import cache
from django.test import Client

from api.tokens import api_token_create


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    # Rate-limit counters live in the cache (a Redis database of the tests' own), keyed by token id.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(make_user, platforms, connect):
    user = make_user("alice")
    connect(user, "github")
    return user


@pytest.fixture
def bob(make_user, platforms, connect):
    user = make_user("bob")
    connect(user, "github")
    return user


class ApiClient(Client):
    """A test client that sends `Authorization: Bearer <token>` and JSON bodies."""

    def __init__(self, token: str | None):
        super().__init__(**({"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}))
        self.token = token

    def post(self, path, data=None, **extra):
        return super().post(path, data if data is not None else {}, content_type="application/json", **extra)


@pytest.fixture
def api_as():
    """`api_as(user, scopes=["read"])` -> a client holding a fresh token of that user's."""

    def make(user, scopes=("read", "export"), **kwargs):
        _, token = api_token_create(owner=user, name="test", scopes=list(scopes), **kwargs)
        return ApiClient(token)

    return make


@pytest.fixture
def age_key(tmp_path):
    """A fresh age key pair made by Debian's age-keygen: (the key file, its public key)."""
    import subprocess

    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return key, public


@pytest.fixture
def dav(webdav_server, settings):
    """The WebDAV server, allowed as a destination though it is on this machine."""
    url, root = webdav_server
    settings.STAREXPORT = {**settings.STAREXPORT, "DELIVERY_PRIVATE_ORIGINS": [url]}
    return url, root


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory):
    """wsgidav, a real WebDAV server process, with one user (alice / webdav-secret)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port, wait_for

    root = tmp_path_factory.mktemp("webdav-root")
    port = free_port()
    config = root.parent / "wsgidav.json"
    config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": port,
                "provider_mapping": {"/": str(root)},
                "simple_dc": {"user_mapping": {"*": {"alice": {"password": "webdav-secret"}}}},
                "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
                "verbose": 1,
            }
        )
    )
    wsgidav = Path(sys.executable).parent / "wsgidav"
    proc = subprocess.Popen(
        [str(wsgidav), "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(url)
    yield url, root
    proc.terminate()
    proc.wait(10)
