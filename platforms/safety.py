"""URLs that come from a platform or an uploaded archive, made safe to put in a page as a link.

A record or an archive can carry any string where a URL is expected: `javascript:alert(1)//`,
`JaVaScRiPt:`, `java\tscript:`, `data:text/html,…`. Browsers strip tabs, newlines and leading
control characters from a URL before they read its scheme, so the check does too: what is left
must be an absolute http(s) URL with a host, or it is not a link at all.

`http_url` is also a template filter (this module is one of the template engine's builtins):
`{% with href=media.source_url|http_url %}{% if href %}<a href="{{ href }}">…{% endif %}{% endwith %}`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import template

register = template.Library()

# What the WHATWG URL parser drops before parsing: leading/trailing C0 controls and spaces, and
# every tab or newline anywhere in the string.
_EDGES = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")


@register.filter
def http_url(value) -> str | None:
    """`value` as an http(s) URL a browser will read as such, or None."""
    if not isinstance(value, str):
        return None
    url = _TAB_OR_NEWLINE.sub("", value.strip(_EDGES))
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
