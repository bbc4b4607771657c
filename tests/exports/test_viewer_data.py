"""The offline viewer's page: no record can change how a browser parses it, and its CSP allows
only the page's own script and style."""

import base64
import hashlib
import json
import re
from html import unescape

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exports.archive import viewer_html
from tests.exports.test_archive import reddit_job  # noqa: F401 — the fixture

# Strings that end or comment out a <script> element, or open another, as an attacker writes them.
HOSTILE = [
    "<!--<script>",
    "</script><script>alert(1)</script>",
    "</SCRIPT >",
    "<!--",
    "-->",
    "<script>",
    "</scr\u200bipt>",
    "<![CDATA[",
    "\u2028\u2029",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "&quot;&amp;",
    # The page's own placeholders, which a record must not be able to fill.
    "__STAREXPORT_DATA__",
    "__STAREXPORT_FIRST__",
]


def page_parts(page: str) -> tuple[str, str, dict]:
    """The page's data as written (the first screen's records, in an attribute, then the rest) and
    as a browser reads it."""
    first = re.search(r'<div id="first" hidden data-json="([^"]*)"></div>', page)[1]
    rest = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.DOTALL)[1]
    data = json.loads(unescape(first))
    data["records"] += json.loads(rest)
    return first, rest, data


def test_hostile_record_text_is_embedded_without_a_single_angle_bracket(reddit_job):  # noqa: F811
    record = reddit_job.records.first()
    seen = []

    @hypothesis_settings(
        max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        title=st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4).map("".join)
        | st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
        ),  # JSON in PostgreSQL holds no NUL
        text=st.text(alphabet=st.sampled_from("<!-/>scriptSCRIPT \n\u2028"), max_size=60),
    )
    def embedded(title, text):
        title = "T " + title  # never blank, so the viewer shows this title and not the record id
        record.data = {**record.data, "title": title, "selftext": text}
        record.save(update_fields=["data"])
        html = viewer_html(reddit_job, [(reddit_job, [])], "2024-01-01T00:00:00Z").decode()
        first, rest, data = page_parts(html)
        # Not one "<" inside the data (nor a quote in the attribute): nothing in it can end the
        # element or the attribute, or start a comment.
        assert "<" not in first + rest and '"' not in first
        shown = next(r for r in data["records"] if r["id"] == record.external_id)
        assert shown["title"] == title.strip()
        # The page around the data is the template's: exactly two script elements.
        assert len(re.findall(r"<script\b", html)) == 2 and len(re.findall(r"</script>", html)) == 2
        seen.append(title)

    embedded()
    assert len(seen) >= 100


def test_the_viewer_csp_allows_its_own_script_and_style_by_hash_and_nothing_inline_else(reddit_job):  # noqa: F811
    html = viewer_html(reddit_job, [(reddit_job, [])], "2024-01-01T00:00:00Z").decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "__" not in policy

    def sha(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    script = re.search(r"<script>(.*?)</script>", html, re.DOTALL)[1]
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL)[1]
    assert directives["script-src"] == sha(script)
    assert directives["style-src"] == sha(style)


def shown(item: dict) -> dict:
    """The words of an item's links, as a reader sees them (offsets counted as a page's script does)."""
    units = item["text"].encode("utf-16-le")
    return {units[a * 2 : b * 2].decode("utf-16-le"): href for a, b, href in item.get("links", [])}


def item_for(slug: str, resource: str, record: dict) -> dict:
    from exports.archive import viewer_item, viewer_kind
    from platforms.registry import get_extractor

    summary = get_extractor(slug).summary(resource, record)
    kind = viewer_kind(resource, summary)
    return viewer_item(platform=slug, kind=kind, record_id="x1", date=None, summary=summary, media=[])


def test_reddit_markdown_becomes_words_with_links_and_never_markup():
    item = item_for(
        "reddit",
        "comments",
        {
            "kind": "t1",
            "name": "t1_x1",
            "body": "**Yes**: see [the FAQ](https://example.com/faq) or r/help 😀 https://e.org/a.\n"
            "[click](javascript:alert(1)) <b>hi</b>\n\n![img](abc123)",
            "link_title": "Backups?",
            "subreddit_name_prefixed": "r/DataHoarder",
            "permalink": "/r/DataHoarder/comments/a/b/x1/",
        },
    )
    assert item["kind"] == "Your comments" and item["context"] == "r/DataHoarder · on “Backups?”"
    assert item["title"] == "Yes: see the FAQ or r/help 😀 https://e.org/a."  # its own first line
    assert item["text"].splitlines()[1] == "click <b>hi</b>"
    assert shown(item) == {
        "the FAQ": "https://example.com/faq",
        "r/help": "https://www.reddit.com/r/help",
        "https://e.org/a": "https://e.org/a",
    }
    assert item["link"] == "https://www.reddit.com/r/DataHoarder/comments/a/b/x1/"


def test_a_tweet_shows_its_entities_as_links_and_its_short_links_as_the_address_they_stand_for():
    text = "Hi @ana 🎉 look https://t.co/abc #backup"
    item = item_for(
        "twitter",
        "tweets",
        {
            "id": "1700",
            "text": text,
            "entities": {
                "mentions": [{"start": 3, "end": 7, "username": "ana"}],
                "urls": [
                    {
                        "start": 15,
                        "end": 31,
                        "url": "https://t.co/abc",
                        "expanded_url": "https://example.com/long/path",
                        "display_url": "example.com/long…",
                    }
                ],
                "hashtags": [{"start": 32, "end": 39, "tag": "backup"}],
            },
        },
    )
    assert item["text"] == "Hi @ana 🎉 look example.com/long… #backup"
    assert shown(item) == {
        "@ana": "https://x.com/ana",
        "example.com/long…": "https://example.com/long/path",
        "#backup": "https://x.com/hashtag/backup",
    }
    assert item["link"] == "https://x.com/i/web/status/1700" and item["kind"] == "Your posts"


def test_every_platform_names_its_kinds_in_words_and_links_to_the_original():
    cases = [
        (
            "github",
            "starred",
            {
                "starred_at": "2024-01-01T00:00:00Z",
                "repo": {
                    "id": 1,
                    "full_name": "a/b",
                    "html_url": "https://github.com/a/b",
                    "description": "Tools",
                    "language": "Go",
                },
            },
            "Starred",
            "a/b",
            "https://github.com/a/b",
        ),
        (
            "youtube",
            "videos",
            {"id": "vid1", "snippet": {"title": "My trip", "description": "Day one"}},
            "Videos",
            "My trip",
            "https://www.youtube.com/watch?v=vid1",
        ),
        (
            "instagram",
            "media",
            {"id": "9", "caption": "Sunset\nat the lake", "permalink": "https://www.instagram.com/p/XYZ/"},
            "Your posts",
            "Sunset",
            "https://www.instagram.com/p/XYZ/",
        ),
        (
            "facebook",
            "posts",
            {"id": "1_2", "message": "Moved to Lisbon today", "permalink_url": "https://www.facebook.com/1/posts/2"},
            "Your posts",
            "Moved to Lisbon today",
            "https://www.facebook.com/1/posts/2",
        ),
        (
            "reddit",
            "saved",
            {"kind": "t3", "name": "t3_q", "title": "A saved post", "permalink": "/r/a/comments/q/x/"},
            "Saved",
            "A saved post",
            "https://www.reddit.com/r/a/comments/q/x/",
        ),
    ]
    for slug, resource, record, kind, title, link in cases:
        item = item_for(slug, resource, record)
        assert (item["kind"], item["title"], item["link"]) == (kind, title, link), slug


def test_a_long_first_line_is_cut_at_a_word_and_links_are_web_links_only():
    from exports.archive import viewer_item

    text = "word " * 40 + "\nsecond line javascript:alert(1) ftp://x.org http://ok.example/p"
    item = viewer_item(
        platform="Reddit",
        kind="Saved",
        record_id="t3_a",
        date="",
        summary={"text": text, "links": [(0, 4, "javascript:alert(1)")], "link": "javascript:alert(1)"},
        media=[],
    )
    assert item["title"].endswith("word…") and len(item["title"]) <= 101
    assert shown(item) == {"http://ok.example/p": "http://ok.example/p"}
    assert "link" not in item
