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
