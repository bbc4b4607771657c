"""Each platform app's request budget, shared in Redis by every worker, against the live sandbox's
app-level limits: no 429s, fair turns, YouTube's daily units, adapting to the platform's headers."""

import multiprocessing
import threading
import time

import pytest
import requests

from platforms.base import FetchContext, Request
from platforms.budget import Budget, Size, is_api_request
from platforms.client import ApiClient
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token


@pytest.fixture
def fresh(settings):
    """Budgets made here start empty and are emptied after the test. `margin`: the slack added to
    each window (the sandbox's limits need a second for requests still on their way)."""
    made = []

    def make(slug: str, size: Size, margin: float = 1.0, **kwargs) -> Budget:
        settings.STAREXPORT = {**settings.STAREXPORT, "BUDGET_MARGIN_SECONDS": margin}
        budget = Budget(slug, size, **kwargs)
        budget.clear()
        made.append(budget)
        return budget

    yield make
    for budget in made:
        budget.clear()


def stats(server) -> dict:
    return requests.get(f"{server.base_url}/_stats", timeout=10).json()


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def export_reddit(server, user: str, budget, sleep=time.sleep) -> int:
    reddit = get_extractor("reddit")
    client = ApiClient(
        reddit, base_url=f"{server.base_url}/reddit", token=mint_token("reddit", user), sleep=sleep, budget=budget
    )
    return sum(len(page.records) for _, page in reddit.pages(client, FetchContext()))


def test_the_sandbox_answers_429_past_its_app_limit_and_counts_them(live_sandbox):
    server = live_sandbox(app_limits={"reddit": [3, 30]})
    headers = {"Authorization": f"Bearer {mint_token('reddit', 'demo')}"}
    answers = [requests.get(f"{server.base_url}/reddit/api/v1/me", headers=headers, timeout=10) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 30
    # Media are not the API: the limit does not count them.
    assert requests.get(f"{server.base_url}/reddit/media/a.jpg", timeout=10).status_code == 200
    seen = stats(server)
    assert seen["429"] == {"reddit": 2}
    assert len(seen["app_requests"]["reddit"]) == 3


def test_two_users_sharing_one_budget_get_no_429_where_they_would_without_it(live_sandbox, fresh):
    server = live_sandbox(app_limits={"reddit": [8, 2]}, records=10, page_size=5)
    # Without a budget two users at once run into the app's limit.
    threads = [
        threading.Thread(target=lambda u=u: _ignore_errors(export_reddit, server, u, None, lambda s: None))
        for u in ("ann", "ben")
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert stats(server)["429"].get("reddit", 0) > 0
    time.sleep(2.1)
    requests.post(f"{server.base_url}/_stats/reset", timeout=10)

    budget = fresh("reddit", Size(8, 2))
    records = {}
    threads = [
        threading.Thread(target=lambda u=u: records.__setitem__(u, export_reddit(server, u, budget)))
        for u in ("ann", "ben")
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]
    seen = stats(server)
    assert seen["429"].get("reddit", 0) == 0
    assert records == {"ann": 30, "ben": 30}
    assert most_in_any_window(seen["app_requests"]["reddit"], 2.0) <= 8


def _ignore_errors(function, *args):
    try:
        function(*args)
    except Exception:
        pass


def _export_in_a_process(base_url: str, user: str, size: Size, url: str) -> None:
    # A separate process with its own Redis connection, as a worker on another queue or machine.
    from platforms import budget as budgets

    budgets._storages.clear()
    budgets._clients.clear()

    class Server:
        pass

    server = Server()
    server.base_url = base_url
    export_reddit(server, user, Budget("reddit", size, url=url))


def test_two_processes_draw_from_the_same_budget(live_sandbox, fresh, settings):
    server = live_sandbox(app_limits={"reddit": [6, 2]}, records=10, page_size=5)
    size = Size(6, 2)
    # The shipped slack (2 s): on a busy machine a request may reach the sandbox a second after
    # its token was taken.
    fresh("reddit", size, margin=2.0)
    fork = multiprocessing.get_context("fork")
    url = settings.STAREXPORT["BUDGET_STORAGE"]
    processes = [
        fork.Process(target=_export_in_a_process, args=(server.base_url, user, size, url)) for user in ("cat", "dan")
    ]
    [p.start() for p in processes]
    [p.join(60) for p in processes]
    assert [p.exitcode for p in processes] == [0, 0]
    seen = stats(server)
    assert seen["429"].get("reddit", 0) == 0
    # cat and dan: 1 + 2 + 2 + 2 pages each (the profile, then 10 records of each listing, 5 a page).
    assert len(seen["app_requests"]["reddit"]) == 14
    assert most_in_any_window(seen["app_requests"]["reddit"], 2.0) <= 6


def test_users_take_turns_when_the_budget_is_the_bottleneck(fresh):
    """A user who has been taking tokens for a while does not starve one who arrives later."""
    budget = fresh("turns", Size(8, 1), margin=0)
    grants: list[str] = []
    lock = threading.Lock()

    def user(name: str, count: int, threads: int = 1):
        def run():
            for _ in range(count // threads):
                budget.take(name)
                with lock:
                    grants.append(name)

        workers = [threading.Thread(target=run) for _ in range(threads)]
        [w.start() for w in workers]
        return workers

    big = user("big", 40, threads=8)  # a big account, downloading with eight threads at once
    while len(grants) < 10:
        time.sleep(0.01)
    small = user("small", 4)
    joined_at = len(grants)
    [w.join() for w in big + small]
    after = grants[joined_at:]
    # Turns alternate: the small user's four requests are among the first nine granted after it
    # came, not one in nine as eight threads against one would share a free-for-all.
    assert after[:9].count("small") == 4, after


def test_a_scheduled_export_yields_its_turns_to_one_a_person_is_watching(fresh):
    """Background requests (a scheduled export nobody is waiting for) queue behind watched ones:
    a person who starts an export while a big scheduled one runs is served at once, in a row."""
    budget = fresh("yield", Size(8, 1), margin=0)
    grants: list[str] = []
    lock = threading.Lock()

    def caller(name: str, count: int, threads: int, background: bool):
        def run():
            for _ in range(count // threads):
                budget.take(name, background=background)
                with lock:
                    grants.append(name)

        workers = [threading.Thread(target=run) for _ in range(threads)]
        [w.start() for w in workers]
        return workers

    night = caller("night", 40, 8, background=True)
    while len(grants) < 10:
        time.sleep(0.01)
    # Four requests at once (a page and its files), so a busy machine's thread scheduling cannot
    # leave the watched user without a request waiting.
    day = caller("day", 4, 4, background=False)
    joined_at = len(grants)
    [w.join() for w in night + day]
    after = grants[joined_at:]
    # Fair turns alone would alternate (day, night, day, night, …: 3 of the first 6); yielding,
    # the watched user's four requests come first (a background request or two may already have
    # been on their way, or slipped into the moment between two of the watched requests).
    assert after[:6].count("day") == 4, after
    assert grants.count("night") == 40


def test_the_budget_adapts_down_to_what_the_platforms_headers_say_is_left(fresh):
    """Reddit's headers say nothing is left until its reset: every worker holds until then."""
    budget = fresh("adapt", Size(100, 60), margin=0)
    budget.take("someone")
    budget.observe(
        {"X-Ratelimit-Remaining": "12.0", "X-Ratelimit-Reset": "30"}, platform_wait=get_extractor("reddit").wait_seconds
    )
    assert budget.state()["held_until"] is None  # something is left: no reason to wait
    budget.observe(
        {"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "1"}, platform_wait=get_extractor("reddit").wait_seconds
    )
    assert budget.state()["held_until"] is not None
    started = time.monotonic()
    budget.take("someone else")
    assert 1.0 <= time.monotonic() - started <= 3.0
    # The window itself is untouched: the hold ends at the platform's reset, not a window later.
    assert budget.state()["left"] == 98


def test_youtube_pauses_when_the_days_units_are_spent_and_resumes_at_the_reset(live_sandbox, fresh, settings):
    # Days long enough that a day's 4 units are spent within it even on a busy machine.
    day = 6
    settings.STAREXPORT = {**settings.STAREXPORT, "QUOTA_DAY_SECONDS": day}
    youtube = get_extractor("youtube")
    baseline_server = live_sandbox(records=6, page_size=5)
    token = mint_token("youtube", "demo")
    plain = ApiClient(youtube, base_url=f"{baseline_server.base_url}/youtube", token=token, budget=None)
    expected = sum(len(page.records) for _, page in youtube.pages(plain, FetchContext()))
    calls = plain.requests_made
    assert calls > 4

    server = live_sandbox(records=6, page_size=5, youtube_daily_units=4, youtube_day_seconds=day)
    spent_until = []
    budget = fresh("youtube", Size(1000, 60, daily_units=4, quota_timezone=youtube.quota_timezone))

    def nap(seconds):
        spent_until.append(budget.state()["spent_until"])
        time.sleep(seconds)

    budget.sleep = nap
    client = ApiClient(youtube, base_url=f"{server.base_url}/youtube", token=token, budget=budget)
    started = time.monotonic()
    got = sum(len(page.records) for _, page in youtube.pages(client, FetchContext()))
    assert got == expected  # nothing failed at the cap: the export waited for the next day
    assert any(spent_until), "the reset time was published while waiting"
    assert time.monotonic() - started >= day * (calls // 4 - 1)
    assert budget.state()["daily_units"] == 4


def test_only_media_requests_to_the_api_itself_spend_the_budget():
    assert is_api_request("https://api.github.com/repos/a/b/zipball", "https://api.github.com")
    assert not is_api_request("https://codeload.github.com/a/b/zip", "https://api.github.com")
    assert not is_api_request("https://i.redd.it/x.jpg", "https://oauth.reddit.com")
    sandbox = "http://127.0.0.1:8765/reddit"
    assert is_api_request("http://127.0.0.1:8765/reddit/api/v1/me", sandbox)
    assert not is_api_request("http://127.0.0.1:8765/reddit/media/x.jpg", sandbox)


def test_an_api_client_takes_a_token_before_every_request(live_sandbox, fresh):
    server = live_sandbox()
    budget = fresh("github", Size(50, 60))
    client = ApiClient(
        get_extractor("github"), base_url=f"{server.base_url}/github", token=mint_token("github", "demo"), budget=budget
    )
    for _ in range(3):
        client.get(Request(url="/user"))
    assert budget.state()["used"] == 3


def test_a_budget_that_cannot_be_reached_lets_requests_go_rather_than_fail_the_export(live_sandbox):
    from tests.conftest import free_port

    server = live_sandbox()
    down = Budget("github", Size(1, 60), url=f"redis://127.0.0.1:{free_port()}/0")
    client = ApiClient(
        get_extractor("github"), base_url=f"{server.base_url}/github", token=mint_token("github", "demo"), budget=down
    )
    for _ in range(2):
        assert client.get(Request(url="/user")).status_code == 200
    assert down.state() is None


def test_the_sandbox_command_takes_app_limits_as_slug_count_and_seconds():
    from django.core.management import CommandError

    from platforms.management.commands.sandbox import Command

    parser = Command().create_parser("manage.py", "sandbox")
    options = parser.parse_args(["--app-limit", "reddit=100/60", "--app-limit", "github=5000/3600"])
    assert dict(options.app_limit) == {"reddit": [100, 60.0], "github": [5000, 3600.0]}
    with pytest.raises(CommandError, match="expected SLUG=N/SECONDS"):
        parser.parse_args(["--app-limit", "reddit=lots"])
