"""The library on the embedded default, in a real browser: the site runs as `make demo` runs it
(SQLite with FTS5, file cache, gunicorn) on a fresh database, filled by an export against the
sandbox and the import of an X archive, and a person signs in, browses, searches and opens a record."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_for
from tests.fixtures.archives import write_zip, ytd

pytestmark = pytest.mark.browser

PASSWORD = "pw-sqlite-library"

# Three posts of an X archive: accented Latin, Cyrillic and Greek, one with a photo; newer and
# older than the sandbox's Reddit posts (May 2024).
TWEETS = [
    ("1815000000000000001", "Sun Aug 04 09:30:00 +0000 2024", "Crème brûlée à Zürich, le meilleur dessert du voyage"),
    ("1810000000000000002", "Fri Jul 12 18:00:00 +0000 2024", "Привет из Москвы: снег и солнце в июле"),
    ("1770000000000000003", "Fri Mar 15 08:00:00 +0000 2024", "Καλημέρα κόσμε από την Αθήνα"),
]
PHOTO = "1815000000000000101"


def x_archive(path):
    from platforms.sandbox.media import image

    tweets = []
    for tweet_id, created, text in TWEETS:
        tweet = {"id_str": tweet_id, "created_at": created, "full_text": text, "lang": "und"}
        if tweet_id == TWEETS[0][0]:
            photo = {
                "id_str": PHOTO,
                "type": "photo",
                "media_url_https": "https://pbs.twimg.com/media/Dessert.jpg",
            }
            tweet["extended_entities"] = {"media": [photo]}
        tweets.append({"tweet": tweet})
    return write_zip(
        path,
        {
            "data/tweets.js": ytd("tweets", tweets),
            f"data/tweets_media/{TWEETS[0][0]}-Dessert.jpg": image(PHOTO),
        },
    )


class Site:
    """The commands and processes of one installation on the embedded defaults, in `folder`."""

    def __init__(self, folder, sandbox: str):
        self.folder = folder
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("DATABASE_URL", "TEST_DATABASE_NAME", "REDIS_URL", "CACHE_REDIS_URL", "MEDIA_ROOT", "EMAIL_URL")
            and not k.startswith("AWS_")
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env.update(
            STAREXPORT_VAR_DIR=str(folder / "var"),
            STAREXPORT_SANDBOX=sandbox,
            SITE_URL=self.url,
            DEBUG="false",
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.web = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return result.stdout

    def serve(self) -> None:
        """gunicorn as the demo starts it, in a session of its own: its group is its workers too."""
        self.log = open(self.folder / "web.log", "w")
        self.web = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "starexport.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                "1",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.url + "/accounts/login/")

    def stop(self) -> None:
        if self.web is None:
            return
        group = self.web.pid  # the session's group id is the pid gunicorn was started with
        try:
            os.killpg(group, signal.SIGTERM)
            self.web.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.web.wait(5)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)  # a worker of the group still there
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(group, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def site(tmp_path, sandbox_process):
    """A fresh SQLite installation with the demo user, her Reddit export and her X archive in the
    library, served by gunicorn; every process it started is gone after the test."""
    site = Site(tmp_path, sandbox_process)
    site.manage("migrate", "--noinput", "-v0")
    site.manage("collectstatic", "--noinput", "-v0")
    site.manage("demo_setup", "--password", PASSWORD)
    site.manage("export", "--user", "demo", "--platform", "reddit", "--media")
    site.manage("import_archive", "--user", "demo", "--platform", "twitter", str(x_archive(tmp_path / "x.zip")))
    try:
        site.serve()
        yield site
    finally:
        site.stop()


def records_in_order(page) -> list[list[str]]:
    """The timeline as a person reads it: [month heading, [record, timestamp], ...] in page order."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.lib-results h2.lib-month, .lib-results article.lib-record'))
             .map(e => e.tagName === 'H2' ? ['month', e.textContent.trim()]
                                          : [e.dataset.record, e.querySelector('time').getAttribute('datetime') || ''])"""
    )


def test_on_sqlite_a_person_browses_searches_and_opens_a_record_of_her_library(site, browser, shot):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    blocked = []  # what the site's Content-Security-Policy refused: a page that is not what it means
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=login]", "demo")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{site.url}/")

    page.get_by_role("link", name="Library").click()
    page.wait_for_url(f"{site.url}/library/")
    # Newest first, under a heading for each month: the X posts of August and July, the Reddit
    # posts of June and May, the X post of March.
    timeline = records_in_order(page)
    months = [text for kind, text in timeline if kind == "month"]
    assert months == ["August 2024", "July 2024", "June 2024", "May 2024", "March 2024"]
    stamps = [stamp for kind, stamp in timeline if kind != "month"]
    assert len(stamps) == 36 + len(TWEETS)
    assert stamps == sorted(stamps, reverse=True)
    heading = None
    for kind, text in timeline:
        if kind == "month":
            heading = text
        else:
            assert time.strftime("%B %Y", time.strptime(text[:7], "%Y-%m")) == heading, (kind, text)
    assert timeline[1][0] == f"twitter/{TWEETS[0][0]}"
    assert timeline[-1][0] == f"twitter/{TWEETS[2][0]}"
    # The activity chart is drawn, a bar for each month and platform.
    assert page.locator("svg.lib-activity").is_visible()
    assert page.locator("svg.lib-activity rect").count() >= 4
    # Its legend names each platform beside the colour of its bars.
    assert legend_colours(page) == {
        "Reddit": bar_colours(page)["Reddit"],
        "Twitter / X": bar_colours(page)["Twitter / X"],
    }
    assert len(set(legend_colours(page).values())) == 2
    # A swatch is a small square beside its name, not a chart-wide block.
    for box in [page.locator(".lib-swatch").nth(i).bounding_box() for i in range(2)]:
        assert box["width"] <= 20 and box["height"] <= 20, box
    # Pictures of both sources come from the library's storage and really load.
    for platform in ("reddit", "twitter"):
        shows_picture(page.locator(f'article.lib-record[data-record^="{platform}/"] .lib-media img').first)
    shot(page, "library-sqlite")

    # A word of one record, as typed (lower case): found, and highlighted in its snippet.
    search(page, "zürich")
    found = page.locator("article.lib-record")
    assert found.count() == 1
    assert found.first.get_attribute("data-record") == f"twitter/{TWEETS[0][0]}"
    assert found.first.locator(".lib-snippet mark").all_inner_texts() == ["Zürich"]
    assert page.locator(".lib-count").inner_text().startswith("1 record matches")
    shot(page, "library-sqlite-search")
    # A word in another script, in capitals: found as well.
    search(page, "МОСКВЫ")
    assert page.locator("article.lib-record").count() == 1
    assert page.locator(
        f'article.lib-record[data-record="twitter/{TWEETS[1][0]}"] .lib-snippet mark'
    ).all_inner_texts() == ["Москвы"]
    search(page, "Αθήνα")
    assert page.locator(f'article.lib-record[data-record="twitter/{TWEETS[2][0]}"]').count() == 1
    search(page, "Zurich")  # accents count (docs/library.md)
    assert page.locator("article.lib-record").count() == 0

    # The platform filter narrows the timeline to one platform.
    page.fill("input[name=q]", "")
    page.select_option("select[name=platform]", "twitter")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/library/\?.*platform=twitter"))
    assert [kind for kind, _ in records_in_order(page) if kind != "month"] == [f"twitter/{t[0]}" for t in TWEETS]

    # The record page: its text, its readable fields, its photo, the raw record folded.
    page.locator(f'article.lib-record[data-record="twitter/{TWEETS[0][0]}"] h3 a').click()
    page.wait_for_url(re.compile(rf".*/library/twitter/{TWEETS[0][0]}/.*"))
    assert TWEETS[0][2] in page.locator(".lib-body").inner_text()
    names, values = page.locator(".lib-fields dt").all_inner_texts(), page.locator(".lib-fields dd").all_inner_texts()
    fields = dict(zip(names, values, strict=True))
    assert fields["id"] == TWEETS[0][0]
    assert fields["created_at"].startswith("2024-08-04T09:30:00")
    shows_picture(page.locator(".lib-media img").first)
    assert not page.locator("pre.lib-raw").is_visible()
    page.locator("details summary").click()
    assert PHOTO in page.locator("pre.lib-raw").inner_text()
    shot(page, "library-sqlite-record")
    assert not blocked, blocked
    context.close()

    # On a phone, neither the library nor a record page scrolls sideways.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=login]", "demo")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=login]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{site.url}/")
    for path in ("/library/", "/library/?q=z%C3%BCrich", f"/library/twitter/{TWEETS[0][0]}/"):
        page.goto(site.url + path)
        page.wait_for_load_state("load")
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (path, width)
    shot(page, "library-sqlite-phone")
    assert not blocked, blocked
    phone.close()


def search(page, words: str) -> None:
    page.fill("input[name=q]", words)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/library/\?q="))


def shows_picture(image) -> None:
    """The image, brought on screen (they load lazily), is served and decoded."""
    image.scroll_into_view_if_needed()
    assert "/library/media/" in image.get_attribute("src")
    image.page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle(), timeout=10_000)


def legend_colours(page) -> dict[str, str]:
    """Platform name -> the colour its legend entry shows (as the browser paints it)."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('.lib-legend li')).map(li => {
             const swatch = li.querySelector('.lib-swatch');
             const shape = swatch && (swatch.querySelector('rect') || swatch);
             const style = shape ? getComputedStyle(shape) : null;
             const colour = style ? (shape.tagName === 'rect' ? style.fill : style.backgroundColor) : '';
             const name = Array.from(li.childNodes).filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent);
             return [name.join('').trim(), colour];
           }))"""
    )


def bar_colours(page) -> dict[str, str]:
    """Platform name -> the colour of its bars in the activity chart (each bar's title names it)."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('svg.lib-activity rect')).map(r =>
             [r.querySelector('title').textContent.split(' from ').pop(), getComputedStyle(r).fill]))"""
    )
