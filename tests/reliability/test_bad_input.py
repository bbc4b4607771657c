"""Bad input: API pages that are broken in every way a page can be, and media URLs aimed at us.

The extractors are fed pages built from each resource's real shape (the recorded samples in
../shared/samples/api and every page the sandbox serves), then broken by Hypothesis: fields
dropped, values set to None, strings where objects belong, lists of junk, 1 MB strings. A job
whose API answers carry such records must still finish. Media URLs that point into our own network
must be refused however the address is spelt and however many redirects lead there.
"""

from __future__ import annotations

import copy
import http.client
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from platforms.base import ExtractorError, FetchContext, MediaItem, Page
from platforms.client import ApiClient
from platforms.registry import get_extractor, slugs
from platforms.sandbox.auth import mint_token
from platforms.sandbox.core import SandboxConfig, serve_in_thread
from tests.conftest import SAMPLES

HUGE = "x" * (1 << 20)
EXAMPLES = 300

# Recorded real answers: (slug, resource, file below ../shared/samples/api).
RECORDED = [
    ("github", "user", "github/user_docs_example.json"),
    ("github", "user", "github/user_octokit_rb_cassette.json"),
    ("github", "repos", "github/user_repos_docs_example.json"),
    ("github", "repos", "github/user_repos_octokit_rb_cassette.json"),
    ("github", "starred", "github/starred_star_json_docs_example.json"),
    ("github", "gists", "github/gists_docs_example.json"),
    ("youtube", "channels", "youtube/channels_list_mine_contentdetails.json"),
    ("youtube", "playlist_items", "youtube/playlistitems_list_page1.json"),
    ("youtube", "playlist_items", "youtube/playlistitems_list_page2_last.json"),
    ("instagram", "media", "instagram/ig_user_media_carousel_with_video_child.json"),
    ("instagram", "media", "instagram/ig_user_media_images_p1.json"),
    ("facebook", "posts", "facebook/page_feed_attachments_p1.json"),
    ("facebook", "posts", "facebook/post_album_subattachments.json"),
    ("twitter", "tweets", "twitter/users_tweets_default_fields_tweepy.json"),
    ("twitter", "tweets", "twitter/tweet_lookup_video_variants_twarc.json"),
    ("reddit", "submitted", "reddit/user_submitted_listing.json"),
    ("reddit", "comments", "reddit/user_comments_listing.json"),
    ("reddit", "submitted", "reddit/submission_gallery_with_comments.json"),
    ("reddit", "submitted", "reddit/submission_image_with_comments.json"),
    ("reddit", "submitted", "reddit/submission_video_with_comments.json"),
]


def served_pages() -> dict[str, list[tuple[str, object, dict]]]:
    """Every page the sandbox serves for a full export of each platform, as parse() receives it."""
    server = serve_in_thread(SandboxConfig(port=0, records=6, page_size=3))
    found: dict[str, list] = {}
    try:
        with override_settings(STAREXPORT_SANDBOX=server.base_url):
            for slug in slugs():
                extractor = get_extractor(slug)
                parse = extractor.parse
                pages: list = []

                def capture(resource, body, headers=None, parse=parse, pages=pages):
                    pages.append((resource, copy.deepcopy(body), dict(headers or {})))
                    return parse(resource, body, headers)

                extractor.parse = capture
                client = ApiClient(
                    extractor,
                    base_url=f"{server.base_url}/{slug}",
                    token=mint_token(slug, "demo"),
                    sleep=lambda seconds: None,
                )
                for _ in extractor.pages(client, FetchContext()):
                    pass
                found[slug] = pages
    finally:
        server.shutdown()
        server.server_close()
    return found


@pytest.fixture(scope="module")
def real_pages():
    from django.conf import settings
    from django.test import override_settings

    # Pages served by an in-process sandbox, with no database: no shared request budget either.
    with override_settings(STAREXPORT={**settings.STAREXPORT, "BUDGETS": False}):
        pages = served_pages()
    for slug, resource, name in RECORDED:
        body = json.loads((SAMPLES / name).read_text())
        try:
            get_extractor(slug).parse(resource, body)
        except ExtractorError:
            continue  # a sample of another shape (a single node without an id): not a page
        pages[slug].append((resource, body, {}))
    for slug in slugs():
        # Every resource of every platform has a real page to break.
        assert {resource for resource, _, _ in pages[slug]} == set(get_extractor(slug).resources), slug
    return pages


# --- breaking a page ---------------------------------------------------------------------------
BIG = "<1 MB of x>"  # stands for HUGE in what Hypothesis prints about a failing example
ODD_STRINGS = [
    "",
    BIG,
    "\ud800",  # a lone surrogate: valid JSON (\ud800), not encodable as UTF-8
    "a\x00b",
    "https://evil.example/x.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "../../etc/passwd",
    "javascript:alert(1)",
    "2024-13-45T99:99:99Z",
    "&amp;&lt;&#0;",
    "9" * 400,
]
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(ODD_STRINGS),
)
junk = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
OPERATIONS = ("drop", "none", "junk", "stringify", "wrap", "empty", "huge", "junk_list", "root")


def real(value):
    """The junk as it goes into the page: BIG becomes the real 1 MB string."""
    if value == BIG:
        return HUGE
    if isinstance(value, list):
        return [real(v) for v in value]
    if isinstance(value, dict):
        return {k: real(v) for k, v in value.items()}
    return value


def slots(node, found: list) -> list:
    """Every (container, key) in a JSON tree, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            slots(value, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            slots(value, found)
    return found


def break_once(body, operation: str, value, places: list, where: int):
    if operation == "root":
        return value
    if not places:
        return body
    parent, key = places[where]
    current = parent[key]
    if operation == "drop":
        del parent[key]
    elif operation == "none":
        parent[key] = None
    elif operation == "junk":
        parent[key] = value
    elif operation == "stringify":
        # A string where an object or a list belongs.
        parent[key] = json.dumps(current)[:60] if not isinstance(current, str) else current + "\ud800"
    elif operation == "wrap":
        parent[key] = [current, value]
    elif operation == "empty":
        parent[key] = type(current)() if isinstance(current, dict | list | str) else None
    elif operation == "huge":
        parent[key] = HUGE
    elif operation == "junk_list":
        parent[key] = [value, None, "junk", 7, [], {}]
    return body


def broken(data, body):
    """The page with one to six things broken, each at a place Hypothesis picks."""
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6), label="breaks")):
        operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
        value = real(data.draw(junk, label="junk")) if operation in ("root", "junk", "wrap", "junk_list") else None
        places = slots(body, [])
        where = data.draw(st.integers(min_value=0, max_value=len(places) - 1), label="place") if places else 0
        body = break_once(body, operation, value, places, where)
    return body


def run_property(extractor, pages, check, *, examples=EXAMPLES) -> Counter:
    tally: Counter = Counter()

    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,  # the same examples on every run, so a result here is reproducible
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(index=st.integers(min_value=0, max_value=len(pages) - 1), data=st.data())
    def prop(index, data):
        resource, body, headers = pages[index]
        tally["examples"] += 1
        parsed(extractor, resource, broken(data, body), headers, check, tally)

    prop()
    return tally


def parsed(extractor, resource, body, headers, check, tally) -> None:
    try:
        result = extractor.parse(resource, body, headers)
    except ExtractorError as exc:
        assert isinstance(exc.message, str) and exc.message.strip(), "an ExtractorError needs a message to act on"
        tally["refused"] += 1
        return
    assert isinstance(result, Page), type(result)
    tally["pages"] += 1
    tally["records"] += len(result.records)
    tally["skipped"] += len(result.skipped)
    check(extractor, resource, result)


def nothing_more(extractor, resource, page) -> None:
    pass


def keeps_the_contract(extractor, resource, page: Page) -> None:
    """What the pipeline relies on downstream (DESIGN §3). `next` and `caption` are left to the
    two tests below, which pin the defects found in them; here everything else stays guarded."""
    assert all(isinstance(record, dict) for record in page.records)
    json.dumps(page.records)
    kept = {extractor.record_id(resource, record) for record in page.records}
    for item in page.media:
        assert isinstance(item, MediaItem)
        for name in ("url", "media_id", "record_id", "ext"):
            assert isinstance(getattr(item, name), str), f"MediaItem.{name} is {type(getattr(item, name)).__name__}"
        assert item.kind in ("image", "video", "file"), item.kind
        assert item.timestamp is None or (isinstance(item.timestamp, str) and item.timestamp.endswith("Z"))
        assert isinstance(item.extra, dict)
        assert item.record_id in kept, "media of a record that is not in the page"
    for skipped in page.skipped:
        assert isinstance(skipped, dict) and isinstance(skipped.get("reason"), str)


def first_page(pages, resource: str, wanted=lambda body: True):
    return next(copy.deepcopy(b) for r, b, _ in pages if r == resource and wanted(b))


def twitter_media_key_list(pages):
    body = first_page(pages, "tweets", lambda b: (b.get("includes") or {}).get("media"))
    body["includes"]["media"][0]["media_key"] = [body["includes"]["media"][0]["media_key"]]
    return "tweets", body


def github_gist_name_with_a_lone_surrogate(pages):
    body = first_page(pages, "gists", lambda b: b)
    name = "notes\ud800.md"
    body[0]["files"] = {name: {"filename": name, "raw_url": "https://gist.githubusercontent.com/u/1/raw/notes.md"}}
    return "gists", body


# Inputs that once broke an extractor: tried on every run, whatever Hypothesis picks.
PINNED = {
    "twitter": [twitter_media_key_list],
    "github": [github_gist_name_with_a_lone_surrogate],
}
CRASHES: dict[str, str] = {}  # every defect found here was fixed


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param(slug, marks=pytest.mark.xfail(strict=True, reason=CRASHES[slug])) if slug in CRASHES else slug
        for slug in slugs()
    ],
)
def test_parse_returns_a_page_or_an_extractor_error_for_any_broken_page(slug, real_pages, figure):
    """parse() of a broken page returns a Page (bad records skipped) or raises ExtractorError, nothing else."""
    extractor = get_extractor(slug)
    tally = run_property(extractor, real_pages[slug], nothing_more)
    figure(f"{slug}: broken pages tried (Hypothesis examples)", tally["examples"])
    figure(f"{slug}: answered with a Page / with ExtractorError", f"{tally['pages']} / {tally['refused']}")
    figure(f"{slug}: records kept / skipped in those pages", f"{tally['records']} / {tally['skipped']}")
    assert tally["examples"] >= EXAMPLES * 0.9
    for build in PINNED.get(slug, []):
        resource, body = build(real_pages[slug])
        parsed(extractor, resource, body, {}, nothing_more, tally)


@pytest.mark.parametrize("slug", slugs())
def test_a_page_parsed_from_broken_input_still_keeps_the_contract(slug, real_pages, figure):
    """What parse() returns from a broken page has the contract's types: the pipeline can store it."""
    extractor = get_extractor(slug)
    parse = extractor.parse

    def crash_free(resource, body, headers=None):
        # Crashes are the test above's finding; here only the Pages that come back are judged.
        try:
            return parse(resource, body, headers)
        except ExtractorError:
            raise
        except Exception:
            reject()

    extractor.parse = crash_free
    tally = run_property(extractor, real_pages[slug], keeps_the_contract)
    figure(f"{slug}: Pages from broken input checked against DESIGN §3", tally["pages"])


CAPTION_FIELDS = ("title", "caption", "message", "story", "description", "text", "name")


def with_captions_that_are_lists(body):
    body = copy.deepcopy(body)
    for record in record_list(body) or []:
        fields = inner(record)
        for key in CAPTION_FIELDS:
            if isinstance(fields.get(key), str) and not (key == "name" and "kind" in record):
                fields[key] = [fields[key], None]  # Reddit's `name` is the record id, not a caption
        if isinstance(fields.get("snippet"), dict) and isinstance(fields["snippet"].get("title"), str):
            fields["snippet"]["title"] = [fields["snippet"]["title"]]
    return body


NOT_TEXT_CAPTIONS: dict[str, str] = {}  # every defect found here was fixed


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=NOT_TEXT_CAPTIONS[s]))
        if s in NOT_TEXT_CAPTIONS
        else s
        for s in slugs()
    ],
)
def test_a_caption_that_is_not_text_does_not_reach_the_media_item(slug, real_pages):
    """DESIGN §3: MediaItem.caption is a str, whatever the record's text field holds."""
    extractor = get_extractor(slug)
    captions = []
    for resource, body, headers in real_pages[slug]:
        page = extractor.parse(resource, with_captions_that_are_lists(body), headers)
        captions.extend(item.caption for item in page.media)
    assert captions
    assert all(isinstance(caption, str) for caption in captions), {type(c).__name__ for c in captions}


def cursor_that_is_a_list(slug: str, body):
    body = copy.deepcopy(body)
    if slug == "youtube":
        body["nextPageToken"] = ["CAoQAA"]
    elif slug in ("instagram", "facebook"):
        body.setdefault("paging", {})["next"] = ["https://graph.example/next"]
    elif slug == "twitter":
        body.setdefault("meta", {})["next_token"] = ["7140dibdnow9c7btw3w29"]
    elif slug == "reddit":
        body["data"]["after"] = ["t3_abc"]
    return body


NOT_TEXT_CURSORS: dict[str, str] = {}  # every defect found here was fixed


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=NOT_TEXT_CURSORS[s]))
        if s in NOT_TEXT_CURSORS
        else s
        for s in ("youtube", "instagram", "facebook", "twitter", "reddit")
    ],
)
def test_a_next_page_cursor_that_is_not_text_ends_the_paging(slug, real_pages):
    """DESIGN §3: Page.next is a str or None; a cursor of another type is no cursor."""
    extractor = get_extractor(slug)
    resource, body, headers = next(
        (r, b, h) for r, b, h in real_pages[slug] if isinstance(b, dict) and (slug != "reddit" or "data" in b)
    )
    page = extractor.parse(resource, cursor_that_is_a_list(slug, body), headers)
    assert page.next is None or isinstance(page.next, str), type(page.next).__name__


# --- a whole job whose API answers carry broken records ------------------------------------------
class Mangler(ThreadingHTTPServer):
    """A proxy in front of the sandbox that breaks records inside otherwise good API pages.

    It keeps the Host header, so every URL the sandbox writes (paging, media) points back here;
    the job sees one origin, as it would see one platform."""

    daemon_threads = True

    def __init__(self, upstream: str, damage):
        self.upstream = urlsplit(upstream)
        self.damage = damage
        self.broken = Counter()
        super().__init__(("127.0.0.1", 0), ManglerHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class ManglerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self.forward()

    def do_POST(self):
        self.forward()

    def forward(self):
        server: Mangler = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(server.upstream.hostname, server.upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "accept-encoding")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        content = answer.read()
        upstream.close()
        if "json" in answer.getheader("Content-Type", "") and "/media/" not in self.path and answer.status == 200:
            page = json.loads(content)
            records = record_list(page)
            if records:
                for index in range(1, len(records)):  # the first record stays good
                    records[index] = server.damage(records[index], index)
                    server.broken[self.path.split("?")[0]] += 1
                content = json.dumps(page).encode()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def record_list(page) -> list | None:
    """The list of records in an API page: the longest list of objects at most two levels down."""
    found = []
    if isinstance(page, list):
        found.append(page)
        for item in page:
            if isinstance(item, dict) and isinstance(item.get("data"), dict):
                found.extend(v for v in item["data"].values() if isinstance(v, list))
    elif isinstance(page, dict):
        for value in page.values():
            if isinstance(value, list):
                found.append(value)
            elif isinstance(value, dict):
                found.extend(v for v in value.values() if isinstance(v, list))
    found = [f for f in found if f and all(isinstance(x, dict) for x in f)]
    return max(found, key=len) if found else None


def inner(record: dict) -> dict:
    """Reddit wraps a thing as {kind, data}: the record's fields are in data."""
    return record["data"] if isinstance(record.get("data"), dict) and "kind" in record else record


def damage_shapes(record: dict, index: int):
    """Each later record broken in one of the ways a page breaks."""
    record = copy.deepcopy(record)
    fields = inner(record)
    way = index % 7
    if way == 0:
        return "junk"
    if way == 1:
        return None
    if way == 2:
        for key in ("id", "name", "media_key"):
            fields.pop(key, None)
        return record
    if way == 3:
        for key, value in list(fields.items()):
            if isinstance(value, dict) and key != "data":
                fields[key] = "junk"
        return record
    if way == 4:
        for key, value in list(fields.items()):
            if isinstance(value, list):
                fields[key] = ["junk", None, 7, {}]
        return record
    if way == 5:
        for key, value in list(fields.items()):
            if isinstance(value, str) and key not in ("id", "name"):
                fields[key] = None
        return record
    return [record]


def damage_huge_text(record: dict, index: int):
    record = copy.deepcopy(record)
    fields = inner(record)
    for key in ("title", "text", "message", "caption", "description", "body", "selftext", "name", "full_name"):
        if isinstance(fields.get(key), str) and key not in ("name",):
            fields[key] = HUGE
    if isinstance(fields.get("snippet"), dict):
        fields["snippet"]["title"] = HUGE
    return record


def damage_huge_id(record: dict, index: int):
    record = copy.deepcopy(record)
    fields = inner(record)
    target = fields["repo"] if isinstance(fields.get("repo"), dict) else fields
    if "id" in target:
        target["id"] = "9" * (1 << 20)
    if "name" in fields and "kind" in record:
        fields["name"] = "t3_" + "9" * (1 << 20)
    return record


def damage_nul(record: dict, index: int):
    record = copy.deepcopy(record)
    fields = inner(record)
    for key in ("title", "text", "message", "caption", "description", "body", "selftext", "full_name"):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key] + "\x00"
    if isinstance(fields.get("snippet"), dict):
        fields["snippet"]["title"] = "nul\x00"
    return record


DAMAGE = {"shapes": damage_shapes, "huge_text": damage_huge_text, "huge_id": damage_huge_id, "nul": damage_nul}


@pytest.fixture
def mangled(sandbox, settings):
    proxies = []

    def start(damage):
        proxy = Mangler(sandbox.base_url, damage)
        proxies.append(proxy)
        settings.STAREXPORT_SANDBOX = proxy.base_url
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


JOB_BREAKERS: dict[str, str] = {}  # every defect found here was fixed


# Every run checks each platform with one kind of damage and each damage on at least one
# platform; the whole grid (6 platforms x 4 damages, a minute and a half) is make reliability's.
EVERY_RUN = {
    ("reddit", "shapes"),
    ("instagram", "shapes"),
    ("twitter", "huge_text"),
    ("github", "huge_id"),
    ("facebook", "nul"),
    ("youtube", "nul"),
}


def damage_params():
    for slug in slugs():
        for damage in DAMAGE:
            marks = [] if (slug, damage) in EVERY_RUN else [pytest.mark.load]
            if damage in JOB_BREAKERS:
                marks.append(pytest.mark.xfail(strict=True, reason=JOB_BREAKERS[damage]))
            yield pytest.param(slug, damage, marks=marks, id=f"{slug}-{damage}")


@pytest.mark.parametrize(("slug", "damage"), list(damage_params()))
def test_a_job_whose_pages_carry_broken_records_still_finishes(
    transactional_db, make_user, platforms, connect, mangled, settings, tmp_path, slug, damage, figure
):
    """A job whose API pages carry broken records finishes with the good ones; the bad are listed as skipped."""
    from exports import jobs, links, pipeline
    from exports.models import ExportJob
    from tests.conftest import verify_archive

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    settings.VAR_DIR = tmp_path
    proxy = mangled(DAMAGE[damage])
    user = make_user(f"u{slug}")
    connect(user, slug)
    job = jobs.export_job_create(
        owner=user, platform_slug=slug, include_media=True, formats=["json", "csv"], enqueue=False
    )
    job = pipeline.run_inline(job)
    figure(
        f"{slug}/{damage}: records broken on the way / kept / listed as skipped / outcome",
        f"{sum(proxy.broken.values())} / {job.records_count} / {len(job.skipped_records)} / {job.status}",
    )
    assert sum(proxy.broken.values()) > 0
    # Whatever else happens, the job ends and says why.
    assert job.status in ExportJob.FINISHED and not job.lease_until
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.records_count > 0
    if damage == "shapes":
        assert job.skipped_records, "records without an id or of the wrong type are listed, not lost silently"
    verify_archive(links.archive_location(job), slug, "--csv")


@pytest.mark.parametrize(
    "slug",
    # Two platforms in every run (one with media only from its API host, one from a CDN); all six
    # under make reliability.
    [slug if slug in ("reddit", "github") else pytest.param(slug, marks=pytest.mark.load) for slug in slugs()],
)
def test_a_job_on_a_sandbox_that_cuts_bodies_off_succeeds_or_fails_with_a_reason(
    transactional_db, make_user, platforms, connect, live_sandbox, settings, tmp_path, slug, figure
):
    """A third of all answers cut off halfway: the job still succeeds, or fails with a reason a person can read."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    settings.VAR_DIR = tmp_path
    from exports import jobs, links, pipeline
    from exports.models import ExportJob
    from tests.conftest import verify_archive

    server = live_sandbox(records=8, page_size=3, truncate_rate=0.3)
    user = make_user(f"t{slug}")
    connect(user, slug)
    job = jobs.export_job_create(owner=user, platform_slug=slug, include_media=True, enqueue=False)
    job = pipeline.run_inline(job)
    stats = server.sandbox.stats()
    figure(f"{slug}: requests served / outcome", f"{stats['requests_total']} / {job.status}")
    assert job.status in (ExportJob.Status.SUCCEEDED, ExportJob.Status.FAILED)
    if job.status == ExportJob.Status.FAILED:
        assert job.error and not job.error.startswith("Unexpected error"), job.error
    else:
        verify_archive(links.archive_location(job), slug, "--media")


# --- media URLs aimed at our own network ---------------------------------------------------------
class Listener:
    """Sockets on loopback that count every connection: a refused URL must never reach them."""

    def __init__(self):
        self.connections = 0
        self.sockets = []
        first = socket.socket(socket.AF_INET)
        first.bind(("127.0.0.1", 0))
        self.port = first.getsockname()[1]
        self.sockets.append(first)
        try:
            six = socket.socket(socket.AF_INET6)
            six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            six.bind(("::1", self.port))
            self.sockets.append(six)
        except OSError:
            pass  # no IPv6 loopback here; [::1] is still refused before any connection
        self.open = True
        self.threads = []
        for sock in self.sockets:
            sock.listen(16)
            sock.settimeout(0.1)
            thread = threading.Thread(target=self.accept, args=(sock,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def accept(self, sock) -> None:
        while self.open:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.open = False
        for thread in self.threads:
            thread.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def listener():
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def fetch_media(make_user, platforms, sandbox, settings, tmp_path):
    from exports.download import Downloader
    from exports.models import ExportJob, MediaFile

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    settings.VAR_DIR = tmp_path
    job = ExportJob.objects.create(owner=make_user("mallory"), platform=platforms["reddit"], include_media=True)
    count = Counter()

    def run(url: str, *, platform=None) -> MediaFile:
        count["n"] += 1
        media_file = MediaFile.objects.create(
            job=job, media_id=f"m{count['n']}", source_url=url, kind="image", ext="jpg", record_ids=["t3_x"]
        )
        downloader = Downloader(
            platform=platform or job.platform, owner_id=job.owner_id, attempts=2, sleep=lambda s: None
        )
        downloader.download_and_save(media_file)
        media_file.refresh_from_db()
        return media_file

    return run


def loopback_spellings(port: int) -> list[str]:
    """Our own machine, written every way a URL parser or resolver accepts."""
    return [
        f"127.0.0.1:{port}",
        f"[::1]:{port}",
        f"[::ffff:127.0.0.1]:{port}",  # IPv4-mapped IPv6
        f"2130706433:{port}",  # decimal
        f"0177.0.0.1:{port}",  # octal
        f"0x7f.0.0.1:{port}",  # hexadecimal
        f"127.1:{port}",  # short form
        f"0.0.0.0:{port}",
        f"localhost:{port}",  # a DNS name that resolves to loopback
    ]


PRIVATE = ["10.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.0.1", "100.64.0.1", "[fd00::1]", "[fe80::1]"]


def test_media_urls_outside_the_allow_list_are_refused_before_any_request(fetch_media, listener, sandbox, figure):
    """Private addresses in any spelling, other schemes and URL-parser tricks never get past the host allow-list."""
    sandbox_host = urlsplit(sandbox.base_url).netloc
    urls = [f"http://{host}/x.jpg" for host in loopback_spellings(listener.port)]
    urls += [f"https://{host}/x.jpg" for host in loopback_spellings(listener.port)]
    urls += [f"http://{host}/latest/meta-data/" for host in PRIVATE]
    urls += [
        "file:///etc/passwd",
        f"ftp://127.0.0.1:{listener.port}/x.jpg",
        f"gopher://127.0.0.1:{listener.port}/_GET%20/",
        f"dict://127.0.0.1:{listener.port}/info",
        "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
        "javascript:alert(1)",
        "//127.0.0.1/x.jpg",
        "/etc/passwd",
        # The allowed origin as user name, fragment or path: the host is still ours.
        f"http://{sandbox_host}@127.0.0.1:{listener.port}/x.jpg",
        f"https://i.redd.it@127.0.0.1:{listener.port}/x.jpg",
        f"http://127.0.0.1:{listener.port}#@{sandbox_host}/reddit/media/x.jpg",
        f"http://127.0.0.1:{listener.port}/{sandbox_host}/reddit/media/x.jpg",
        f"http://127.0.0.1:{listener.port}\\@{sandbox_host}/reddit/media/x.jpg",
        # Look-alike hosts of an allowed platform host.
        f"https://i.redd.it.127.0.0.1.nip.io:{listener.port}/x.jpg",
        f"https://redd.it.evil.example:{listener.port}/x.jpg",
        f"https://evilredd.it:{listener.port}/x.jpg",
    ]
    refused = []
    for url in urls:
        media_file = fetch_media(url)
        assert media_file.status == "failed", url
        assert "refused" in media_file.last_error, (url, media_file.last_error)
        refused.append(url)
    assert listener.connections == 0
    figure("media URLs aimed outside the allow-list: tried / refused", f"{len(urls)} / {len(refused)}")
    figure("connections that reached the private listener", listener.connections)
    # The listener does count: one connection made on purpose shows up.
    socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
    deadline = time.monotonic() + 5
    while listener.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.connections == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_private_address_is_refused_even_when_an_operator_allow_lists_its_host(
    fetch_media, listener, platforms, scheme, figure
):
    """The address check is a second wall: a media host list that names a private host still fetches nothing from it."""
    reddit = platforms["reddit"]
    hosts = [*loopback_spellings(listener.port), *PRIVATE]
    names = [urlsplit(f"http://{host}/").hostname for host in hosts]
    reddit.media_hosts = [*reddit.media_hosts, *names]
    reddit.save()
    refused = 0
    for host in hosts:
        media_file = fetch_media(f"{scheme}://{host}/x.jpg", platform=reddit)
        assert media_file.status == "failed", host
        if scheme == "https":
            assert "private address" in media_file.last_error, (host, media_file.last_error)
        else:
            # Plain http is for the sandbox only: refused by the allow-list before the address check.
            assert "refused" in media_file.last_error, (host, media_file.last_error)
        refused += 1
    assert listener.connections == 0
    figure(f"{scheme}: allow-listed private hosts tried / refused", f"{len(hosts)} / {refused}")


def chain(sandbox, target: str, hops: int) -> str:
    """A media URL that redirects `hops` times inside the sandbox's media host, then to `target`."""
    url = target
    for hop in reversed(range(hops)):
        url = f"{sandbox.base_url}/reddit/media/hop{hop}.jpg?redirect={quote(url, safe='')}"
    return url


def test_a_redirect_chain_through_the_media_host_to_a_private_address_is_refused(
    fetch_media, listener, sandbox, figure
):
    """Three redirects inside the allowed media host, then one to our own network: refused at that hop."""
    targets = [f"http://{host}/x.jpg" for host in loopback_spellings(listener.port)]
    targets += [f"http://{host}/latest/meta-data/" for host in PRIVATE]
    targets += ["file:///etc/passwd", f"ftp://127.0.0.1:{listener.port}/x.jpg"]
    for target in targets:
        sandbox.sandbox.reset()
        media_file = fetch_media(chain(sandbox, target, 3))
        assert media_file.status == "failed", target
        assert "refused" in media_file.last_error, (target, media_file.last_error)
        followed = sandbox.sandbox.stats()["requests"]
        # Every hop inside the sandbox was followed once; the private one was never requested.
        assert [followed.get(f"/reddit/media/hop{i}.jpg") for i in range(3)] == [1, 1, 1], followed
    assert listener.connections == 0
    figure("3-hop redirect chains ending in a private address: tried / refused", f"{len(targets)} / {len(targets)}")


def test_a_redirect_chain_inside_the_media_host_is_followed_to_the_file(fetch_media, sandbox):
    """Only the allow-listed origin passes: the same three hops ending at a file there deliver it."""
    media_file = fetch_media(chain(sandbox, f"{sandbox.base_url}/reddit/media/cat.jpg", 3))
    assert media_file.status == "done", media_file.last_error
    assert media_file.content_type == "image/jpeg"


def test_a_redirect_loop_inside_the_media_host_stops(fetch_media, sandbox):
    media_file = fetch_media(chain(sandbox, f"{sandbox.base_url}/reddit/media/cat.jpg", 8))
    assert media_file.status == "failed"
    assert "redirects" in media_file.last_error


def test_a_next_page_url_on_another_host_is_refused_before_the_token_is_sent(sandbox, settings, listener):
    """A Graph API page whose `paging.next` points elsewhere ends the export; the bearer token stays home."""
    from platforms.base import Request

    extractor = get_extractor("facebook")
    client = ApiClient(extractor, base_url=f"{sandbox.base_url}/facebook", token="t", sleep=lambda s: None)
    for url in [
        f"http://127.0.0.1:{listener.port}/v21.0/me/posts?after=x",
        "http://169.254.169.254/latest/meta-data/",
        f"http://localhost:{urlsplit(sandbox.base_url).port}/facebook/v21.0/me/posts",
        "https://graph.facebook.com.evil.example/v21.0/me/posts",
    ]:
        with pytest.raises(ExtractorError, match="another host"):
            client.get(Request(url=url))
    assert listener.connections == 0
