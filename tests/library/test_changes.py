"""What disappeared: each export of an account is compared with the previous one; records no
longer returned are kept and marked gone, and changes.csv lists new, edited and gone records."""

import csv
import io
import zipfile

import pytest

from exports import jobs, links, pipeline
from exports.models import ExportJob, LibraryRecord
from tests.conftest import verify_archive


@pytest.fixture
def gina(transactional_db, make_user, platforms, connect, sandbox):
    user = make_user("gina")
    connect(user, "reddit")
    return user


def export(user, sandbox, records: int) -> ExportJob:
    sandbox.sandbox.config.records = records
    job = jobs.export_job_create(owner=user, platform_slug="reddit", formats=["json"], enqueue=False)
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def members(job: ExportJob) -> dict[str, bytes]:
    with zipfile.ZipFile(links.archive_location(job)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.endswith(".csv")}


def changes(job: ExportJob) -> list[dict]:
    return list(csv.DictReader(io.StringIO(members(job)["changes.csv"].decode())))


def test_records_no_longer_returned_are_kept_marked_gone_and_listed(gina, sandbox, client):
    first = export(gina, sandbox, records=12)
    assert "changes.csv" not in members(first)  # nothing to compare the first export with
    before = set(LibraryRecord.objects.filter(owner=gina).values_list("kind", "external_id"))

    second = export(gina, sandbox, records=10)
    now = set(second.records.values_list("resource", "external_id"))
    went = before - now
    assert went and len(now) < len(before)
    rows = changes(second)
    assert {(r["resource"], r["record_id"]) for r in rows if r["change"] == "gone"} == went
    assert all(r["change"] == "gone" for r in rows)
    assert f"Since the last export: 0 new, 0 edited, {len(went)} gone." in second.notes
    verify_archive(links.archive_location(second), "reddit")
    # The library keeps them.
    assert set(LibraryRecord.objects.filter(owner=gina).values_list("kind", "external_id")) == before

    client.force_login(gina)
    kind, record_id = sorted(went)[0]
    html = client.get("/library/").content.decode()
    assert html.count("gone since") == len(went)
    page = client.get(f"/library/reddit/{record_id}/", {"kind": kind}).content.decode()
    assert "<strong>gone</strong>" in page and "new in the library" in page

    # Nothing changes on a repeat: nothing is gone twice.
    third = export(gina, sandbox, records=10)
    assert changes(third) == []
    assert "Since the last export: 0 new, 0 edited, 0 gone." in third.notes


def test_records_that_come_back_are_new_again_and_no_longer_marked_gone(gina, sandbox, client):
    export(gina, sandbox, records=12)
    gone = {(r["resource"], r["record_id"]) for r in changes(export(gina, sandbox, records=11))}
    back = export(gina, sandbox, records=12)
    assert {(r["resource"], r["record_id"]) for r in changes(back) if r["change"] == "new"} == gone
    client.force_login(gina)
    assert "gone since" not in client.get("/library/").content.decode()
    kind, record_id = sorted(gone)[0]
    assert "returned by Reddit again" in client.get(f"/library/reddit/{record_id}/", {"kind": kind}).content.decode()


def test_an_edit_is_a_change_of_the_words_a_person_reads(make_user, shelve, client):
    user = make_user("edda")

    def post(text, score):
        return {"kind": "submitted", "id": "t3_e", "timestamp": "2024-01-01T00:00:00Z",
                "data": {"id": "t3_e", "title": "Notes", "selftext": text, "score": score}}  # fmt: skip

    shelve(user, "reddit", [post("first words", 1)])
    shelve(user, "reddit", [post("first words", 99)])  # a new score is no edit
    shelve(user, "reddit", [post("second words", 99)])
    client.force_login(user)
    page = client.get("/library/reddit/t3_e/").content.decode()
    assert page.count("edited</li>") == 1 and "new in the library" in page


def test_an_everything_archive_lists_what_changed_on_each_platform(gina, connect, sandbox):
    connect(gina, "github")

    def everything(records: int) -> ExportJob:
        sandbox.sandbox.config.records = records
        job = pipeline.run_inline(jobs.export_job_create(owner=gina, platform_slug="all", enqueue=False))
        assert job.status == ExportJob.Status.SUCCEEDED, job.error
        return job

    first = everything(12)
    assert "changes.csv" not in members(first)
    second = everything(10)
    rows = changes(second)
    assert rows and list(rows[0]) == ["platform", "resource", "record_id", "change"]
    assert {r["platform"] for r in rows} == {"github", "reddit"}
    assert {r["change"] for r in rows} == {"gone"}
    verify_archive(links.archive_location(second), "all")
