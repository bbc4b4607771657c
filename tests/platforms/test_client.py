"""The API client against the live sandbox: each attempt is one request, waits follow the policy."""

import pytest
import requests

from platforms.base import ExtractorError, Request
from platforms.client import ApiClient
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token


def client_for(sandbox, slug="github", **kwargs) -> ApiClient:
    kwargs.setdefault("sleep", lambda s: None)
    return ApiClient(
        get_extractor(slug), base_url=f"{sandbox.base_url}/{slug}", token=mint_token(slug, "demo"), **kwargs
    )


def requests_to(sandbox, path: str) -> int:
    return requests.get(f"{sandbox.base_url}/_stats", timeout=10).json()["requests"].get(path, 0)


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_an_api_that_keeps_failing_costs_exactly_the_configured_attempts(sandbox, settings, attempts):
    settings.STAREXPORT = {**settings.STAREXPORT, "API_ATTEMPTS": attempts}
    sandbox.sandbox.config.fault_5xx_rate = 1.0
    with pytest.raises(ExtractorError) as failed:
        client_for(sandbox).get(Request(url="/user/repos"))
    assert requests_to(sandbox, "/github/user/repos") == attempts
    plural = "attempt" if attempts == 1 else "attempts"
    assert f"gave up after {attempts} {plural}" in failed.value.message
    assert failed.value.retryable


def test_a_rate_limited_page_waits_for_retry_after_and_then_succeeds(sandbox):
    sandbox.sandbox.config.fault_429_every = 2
    sandbox.sandbox.config.retry_after = 3
    waits = []
    client = client_for(sandbox, sleep=waits.append)
    client.get(Request(url="/user"))  # the sandbox's 1st request: answered
    response = client.get(Request(url="/user/repos"))  # the 2nd is refused with Retry-After: 3
    assert response.status_code == 200
    # At least what Retry-After asked; GitHub's own reset header may ask a little more.
    assert len(waits) == 1 and 3.0 <= waits[0] <= 4.5, waits
    assert requests_to(sandbox, "/github/user/repos") == 2
    assert client.requests_made == 3


def test_a_refusal_that_is_not_busy_is_not_retried(sandbox):
    client = ApiClient(get_extractor("github"), base_url=f"{sandbox.base_url}/github", token="not-a-token")
    with pytest.raises(ExtractorError) as failed:
        client.get(Request(url="/user/repos"))
    assert requests_to(sandbox, "/github/user/repos") == 1
    assert not failed.value.retryable
