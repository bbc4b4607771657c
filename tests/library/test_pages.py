"""The library page, its search and filters, the record page and its media, on PostgreSQL."""

import re

import pytest
from django.urls import reverse

from exports.models import LibraryMedia, LibraryRecord


def post(pid, title, text="", when="2024-03-05T10:00:00Z", kind="submitted", **data):
    return {
        "kind": kind,
        "id": pid,
        "timestamp": when,
        "data": {"id": pid, "title": title, "selftext": text, "permalink": f"https://www.reddit.com/r/x/{pid}", **data},
    }


@pytest.fixture
def mara(make_user, shelve):
    user = make_user("mara")
    shelve(
        user,
        "reddit",
        [
            post("t3_a", "Sourdough at altitude", "The starter needs more water above 2000 m.", "2024-03-05T10:00:00Z"),
            post("t3_b", "Bike repair", "A chain tool and patience.", "2023-11-20T08:00:00Z"),
            post("t1_c", "", "Comment about sourdough crumb", "2024-01-02T09:00:00Z", kind="comments", body="x"),
            post("t3_d", "Ünïcödé café notes", "Straße, 東京, Αθήνα", "2022-06-01T00:00:00Z"),
            post("t3_e", "<script>alert(1)</script> sourdough", "x < y & z", "2024-02-01T00:00:00Z"),
        ],
        media=[{"media_id": "img_a", "record_ids": ["t3_a"], "caption": "loaf crumb shot", "ext": "png"}],
    )
    shelve(
        user,
        "github",
        [
            {
                "kind": "repos",
                "id": "42",
                "timestamp": "2024-03-01T00:00:00Z",
                "data": {
                    "id": 42,
                    "full_name": "mara/dotfiles",
                    "description": "Shell config",
                    "html_url": "javascript:alert(1)",
                },
            }
        ],
    )
    return user


@pytest.fixture
def signed_in(client, mara):
    client.force_login(mara)
    return client


def ids_on(response) -> list[str]:
    return re.findall(r'data-record="([^"]+)"', response.content.decode())


def test_the_library_shows_every_platform_newest_first_grouped_by_month(signed_in):
    response = signed_in.get("/library/")
    assert response.status_code == 200
    assert ids_on(response) == ["reddit/t3_a", "github/42", "reddit/t3_e", "reddit/t1_c", "reddit/t3_b", "reddit/t3_d"]
    html = response.content.decode()
    assert html.index("March 2024") < html.index("February 2024") < html.index("November 2023")
    assert html.count("March 2024</h2>") == 1
    assert "comment" in html and "repository" in html  # kinds in plain words
    assert 'href="/library/"' in html  # the header links to it


def test_the_library_shows_media_inline_and_serves_it_to_its_owner_only(signed_in, make_user, client):
    html = signed_in.get("/library/").content.decode()
    media = LibraryMedia.objects.get(media_id="img_a")
    src = reverse("library:media", args=[media.id])
    assert f'src="{src}"' in html
    response = signed_in.get(src)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).endswith(b"img_a")
    client.force_login(make_user("other"))
    assert client.get(src).status_code == 404


def test_a_search_finds_words_in_titles_text_and_captions_best_first_with_marked_snippets(signed_in):
    response = signed_in.get("/library/", {"q": "sourdough"})
    found = ids_on(response)
    assert set(found) == {"reddit/t3_a", "reddit/t1_c", "reddit/t3_e"}
    assert found[0] in ("reddit/t3_a", "reddit/t3_e")  # a title match ranks above a comment's text
    html = response.content.decode()
    assert "3 records match" in html
    assert "<mark>sourdough</mark>" in html.lower()
    # The caption of a record's picture is searched too.
    assert ids_on(signed_in.get("/library/", {"q": "crumb shot"})) == ["reddit/t3_a"]
    # File names as well.
    assert ids_on(signed_in.get("/library/", {"q": "img_a"})) == ["reddit/t3_a"]


def test_record_text_is_escaped_in_results_and_snippets(signed_in):
    html = signed_in.get("/library/", {"q": "sourdough"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "x &lt; y &amp; z" in html


def test_words_of_any_language_are_found_as_written(signed_in):
    for word in ("東京", "Αθήνα", "Straße", "café", "ÜNÏCÖDÉ"):
        assert ids_on(signed_in.get("/library/", {"q": word})) == ["reddit/t3_d"], word


def test_a_search_for_nothing_known_says_so(signed_in):
    response = signed_in.get("/library/", {"q": "zeppelin"})
    assert ids_on(response) == []
    assert "0 records match" in response.content.decode()
    assert "Try fewer words, another spelling" in response.content.decode()
    filtered = signed_in.get("/library/", {"q": "zeppelin", "platform": "github"}).content.decode()
    assert 'href="?q=zeppelin">the same words without the filters</a>' in filtered
    assert ids_on(signed_in.get("/library/", {"q": '"" OR -'})) == []  # no words, no error


def test_filters_by_platform_kind_date_range_and_media(signed_in):
    assert ids_on(signed_in.get("/library/", {"platform": "github"})) == ["github/42"]
    assert ids_on(signed_in.get("/library/", {"kind": "comments"})) == ["reddit/t1_c"]
    assert ids_on(signed_in.get("/library/", {"date_from": "2024-01-01", "date_to": "2024-02-29"})) == [
        "reddit/t3_e",
        "reddit/t1_c",
    ]
    assert ids_on(signed_in.get("/library/", {"media": "1"})) == ["reddit/t3_a"]
    assert ids_on(signed_in.get("/library/", {"q": "sourdough", "media": "1"})) == ["reddit/t3_a"]
    assert ids_on(signed_in.get("/library/", {"q": "sourdough", "date_to": "2024-01-31"})) == ["reddit/t1_c"]
    # A date that is not one is ignored rather than an error.
    assert len(ids_on(signed_in.get("/library/", {"date_from": "soon"}))) == 6


def test_the_timeline_pages_on_without_repeating_or_losing_a_record(signed_in, mara, shelve):
    shelve(
        mara,
        "reddit",
        [post(f"t3_p{i:03d}", f"Post {i}", when=f"2021-01-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(120)],
    )
    seen, url = [], "/library/"
    while url:
        response = signed_in.get(url)
        seen += ids_on(response)
        more = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        url = "/library/" + more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == len(set(seen)) == 126


def test_the_charts_count_records_per_month_and_per_day(signed_in):
    html = signed_in.get("/library/").content.decode()
    assert "<svg" in html and "Records per month" in html
    assert "2024-03: 1 record from Reddit" in html
    assert "2024-03: 1 record from GitHub" in html
    assert "4 records in 2024" in html  # the latest year's calendar
    assert "2024-03-05: 1 record<" in html
    assert (
        "2 records in 2023" not in html and "1 record in 2023" in signed_in.get("/library/?year=2023").content.decode()
    )


def test_the_record_page_shows_text_media_sources_fields_and_the_original(signed_in):
    media = LibraryMedia.objects.get(media_id="img_a")
    response = signed_in.get("/library/reddit/t3_a/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sourdough at altitude" in html and "more water above 2000 m" in html
    assert reverse("library:media", args=[media.id]) in html
    assert 'href="https://www.reddit.com/r/x/t3_a"' in html
    assert "API" in html and "<details" in html and "&quot;selftext&quot;" in html


def test_the_record_page_links_only_to_http_originals(signed_in):
    html = signed_in.get("/library/github/42/").content.decode()
    assert "mara/dotfiles" in html
    assert 'href="javascript' not in html
    assert "Open the original" not in html


def test_another_users_record_and_library_stay_hidden(client, make_user, mara):
    other = make_user("nosy")
    client.force_login(other)
    assert client.get("/library/reddit/t3_a/").status_code == 404
    assert ids_on(client.get("/library/")) == []
    assert ids_on(client.get("/library/", {"q": "sourdough"})) == []


def test_a_visitor_is_sent_to_sign_in(client, mara):
    response = client.get("/library/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_edited_record_is_found_by_its_new_words_only(signed_in, mara, shelve):
    shelve(mara, "reddit", [post("t3_b", "Bike repair", "Now with a torque wrench.", "2023-11-20T08:00:00Z")])
    assert ids_on(signed_in.get("/library/", {"q": "torque"})) == ["reddit/t3_b"]
    assert ids_on(signed_in.get("/library/", {"q": "patience"})) == []


def test_a_deleted_record_leaves_the_search(signed_in, mara):
    LibraryRecord.objects.filter(owner=mara, external_id="t3_a").delete()
    assert ids_on(signed_in.get("/library/", {"q": "altitude"})) == []


def test_a_word_in_very_many_records_lists_them_newest_first(signed_in, monkeypatch):
    from library import selectors

    monkeypatch.setattr(selectors, "RANKED", 2)  # as if "sourdough" were in thousands
    response = signed_in.get("/library/", {"q": "sourdough"})
    assert ids_on(response) == ["reddit/t3_a", "reddit/t3_e", "reddit/t1_c"]
    assert "More than 2 records match" in response.content.decode()


def test_a_filtered_search_for_a_word_in_very_many_records_lists_them_newest_first(signed_in, monkeypatch):
    from library import selectors

    monkeypatch.setattr(selectors, "RANKED", 2)
    response = signed_in.get("/library/", {"q": "sourdough", "kind": "submitted"})
    assert ids_on(response) == ["reddit/t3_a", "reddit/t3_e"]
    assert "Many records match" in response.content.decode()


def test_a_record_without_words_has_the_same_name_on_the_timeline_and_its_page(client, make_user, shelve):
    user = make_user("quiet")
    shelve(user, "reddit", [post("t3_q", "", "", "2024-08-04T12:00:00Z")])
    client.force_login(user)
    timeline = client.get("/library/").content.decode()
    page = client.get("/library/reddit/t3_q/").content.decode()
    name = re.search(r'<h3 class="lib-title"><a [^>]*>([^<]+)</a>', timeline).group(1)
    assert name.endswith("of 2024-08-04")
    assert f"<h1>{name}</h1>" in page and f"<title>{name}" in page
