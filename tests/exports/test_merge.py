"""An official archive and the API, merged in the user's library: nothing twice, both sources."""

import json
import zipfile
from datetime import datetime
from posixpath import basename
from urllib.parse import urlsplit

import requests

from exports import jobs, links, pipeline
from exports.models import ExportJob, LibraryMedia, LibraryRecord
from platforms.base import FetchContext
from platforms.client import ApiClient
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token
from tests.conftest import verify_archive
from tests.fixtures.archives import uploaded_job, ytd, zip_bytes


def x_archive_of(sandbox_base: str, identity: str) -> tuple[bytes, int]:
    """The X archive the sandbox's account would download: data/tweets.js in X's own (v1.1)
    shape and every media file in data/tweets_media/, built from what the API serves."""
    extractor = get_extractor("twitter")
    client = ApiClient(extractor, base_url=f"{sandbox_base}/twitter", token=mint_token("twitter", identity))
    tweets = [
        t for resource, page in extractor.pages(client, FetchContext()) if resource == "tweets" for t in page.records
    ]
    members, items = {}, []
    for tweet in tweets:
        created = datetime.strptime(tweet["created_at"][:19], "%Y-%m-%dT%H:%M:%S")
        legacy = {
            "id_str": tweet["id"],
            "id": tweet["id"],
            "full_text": tweet["text"],
            "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "favorite_count": str(tweet.get("public_metrics", {}).get("like_count", 0)),
            "retweet_count": str(tweet.get("public_metrics", {}).get("retweet_count", 0)),
            "entities": {"hashtags": [], "urls": [], "user_mentions": []},
        }
        media = []
        for m in tweet.get("media", []):
            picture = m.get("url") or m["preview_image_url"]
            entry = {"id_str": m["media_key"].split("_", 1)[1], "type": m["type"], "media_url_https": picture}
            members[f"data/tweets_media/{tweet['id']}-{basename(urlsplit(picture).path)}"] = requests.get(
                picture, timeout=10
            ).content
            if m["type"] != "photo":
                entry["video_info"] = {"variants": m["variants"]}
                best = max(
                    (v for v in m["variants"] if v["content_type"] == "video/mp4"), key=lambda v: v.get("bit_rate", 0)
                )
                members[f"data/tweets_media/{tweet['id']}-{basename(urlsplit(best['url']).path)}"] = requests.get(
                    best["url"], timeout=10
                ).content
            media.append(entry)
        if media:
            legacy["extended_entities"] = {"media": media}
        items.append({"tweet": legacy})
    members["data/tweets.js"] = ytd("tweets", items)
    return zip_bytes(members), len(tweets)


def test_an_x_archive_then_an_api_export_keep_every_tweet_and_file_once_with_both_sources(
    transactional_db, make_user, platforms, connect, sandbox, settings, tmp_path
):
    user = make_user("mia")
    connect(user, "twitter")
    archive, tweets = x_archive_of(sandbox.base_url, "mia")

    imported = pipeline.run_inline(uploaded_job(user, "twitter", archive))
    assert imported.status == ExportJob.Status.SUCCEEDED, imported.error
    assert imported.records.filter(resource="tweets").count() == tweets
    media_in_archive = imported.media_done
    assert media_in_archive > 0 and imported.media_failed == 0

    sandbox.sandbox.reset()
    job = jobs.export_job_create(
        owner=user, platform_slug="twitter", include_media=True, options={"only_new": True}, enqueue=False
    )
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error

    library = LibraryRecord.objects.filter(owner=user, platform_id="twitter", kind="tweets")
    assert library.count() == tweets
    assert all(sorted(r.sources) == ["api", "archive"] for r in library)
    assert LibraryMedia.objects.filter(owner=user, platform_id="twitter").count() == job.media_done
    # Every file the archive held was taken from the library, none downloaded again.
    assert job.media_reused >= media_in_archive
    media_bytes = sum(n for p, n in sandbox.sandbox.stats()["bytes_by_path"].items() if p.startswith("/twitter/media/"))
    assert media_bytes == sum(m.size for m in job.media_files.exclude(extra__reused_from_library=True))

    path = links.archive_location(job)
    verify_archive(path, "twitter", "--media")
    with zipfile.ZipFile(path) as zf:
        document = json.loads(zf.read(f"{job.base_name}.json"))
    ids = [t["id"] for t in document["records"]["tweets"]]
    assert len(ids) == len(set(ids)) == tweets
    assert len({m["media_id"] for m in document["media"]}) == len(document["media"])
    assert all(sorted(s) == ["api", "archive"] for s in document["sources"]["tweets"].values())
