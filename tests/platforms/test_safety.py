"""platforms.safety.http_url: what may become a link in a page, an email or the offline viewer."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platforms.safety import http_url

HOSTILE = [
    "javascript:alert(document.domain)//",
    "JAVASCRIPT:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "\x00javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "java\rscript:alert(1)",
    "javascript\t:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
    "blob:https://example.com/uuid",
    "//evil.example/a.jpg",
    "https:alert(1)",
    "http:/evil.example",
    "https://",
    "",
    "media/images/x.jpg",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_anything_but_an_http_url_with_a_host_is_not_a_link(value):
    assert http_url(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://pbs.twimg.com/media/a.jpg", "https://pbs.twimg.com/media/a.jpg"),
        ("HTTPS://i.redd.it/b.png", "HTTPS://i.redd.it/b.png"),
        ("  http://example.com/x?y=1#z\n", "http://example.com/x?y=1#z"),
        ("ht\ttps://example.com/", "https://example.com/"),
    ],
)
def test_http_and_https_urls_are_kept_as_a_browser_reads_them(value, expected):
    assert http_url(value) == expected


def test_values_that_are_not_text_are_not_links():
    assert http_url(None) is None
    assert http_url(["https://example.com"]) is None


@given(prefix=st.text(alphabet=st.characters(max_codepoint=0x20), max_size=4), inner=st.sampled_from("\t\n\r"))
def test_no_spelling_of_javascript_gets_through(prefix, inner):
    for scheme in ("javascript", "JavaScript", "JAVASCRIPT"):
        spelled = prefix + scheme[:4] + inner + scheme[4:] + ":alert(1)"
        assert http_url(spelled) is None
