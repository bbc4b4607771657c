"""The offline viewer's page: no record can change how a browser parses it, and its CSP allows
only the page's own script and style."""

import base64
import hashlib
import json
import re

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
]


def page_parts(html: str) -> tuple[str, dict]:
    """The page's data as written (the first screen's records, then the rest) and as read."""
    first = re.search(r'<script id="first" type="application/json">(.*?)</script>', html, re.DOTALL)[1]
    rest = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.DOTALL)[1]
    data = json.loads(first)
    data["records"] += json.loads(rest)
    return first + rest, data


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
        raw, data = page_parts(html)
        # Not one "<" inside the data: nothing in it can end the element or start a comment.
        assert "<" not in raw
        shown = next(r for r in data["records"] if r["id"] == record.external_id)
        assert shown["title"] == title.strip()
        # The page around the data is the template's: its script and the two data elements.
        assert len(re.findall(r"<script\b", html)) == 3 and len(re.findall(r"</script>", html)) == 3
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
