"""The library's search index, record-media links and changes (see exports/library.py), per database:
PostgreSQL full-text search (`simple` configuration, a GIN index) or SQLite FTS5."""

from django.db import migrations

POSTGRESQL = [
    """CREATE TABLE library_search (
        record_id bigint PRIMARY KEY,
        owner_id bigint NOT NULL,
        title text NOT NULL DEFAULT '',
        body text NOT NULL DEFAULT '',
        extra text NOT NULL DEFAULT '',
        vector tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', title), 'A')
            || setweight(to_tsvector('simple', body), 'B')
            || setweight(to_tsvector('simple', extra), 'C')
        ) STORED
    )""",
    "CREATE INDEX library_search_vector ON library_search USING gin (vector)",
    # A user's matches are counted without reading their records.
    "CREATE INDEX library_search_owner ON library_search (owner_id)",
    """CREATE FUNCTION library_search_forget() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN DELETE FROM library_search WHERE record_id = OLD.id; RETURN OLD; END $$""",
    """CREATE TRIGGER library_search_forget AFTER DELETE ON exports_libraryrecord
    FOR EACH ROW EXECUTE FUNCTION library_search_forget()""",
    """CREATE TABLE library_record_media (
        owner_id bigint NOT NULL, platform_id varchar(32) NOT NULL, record_id varchar(255) NOT NULL,
        media_id bigint NOT NULL, PRIMARY KEY (media_id, record_id)
    )""",
    "CREATE INDEX library_record_media_record ON library_record_media (owner_id, record_id, platform_id)",
    """CREATE FUNCTION library_record_media_forget() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN DELETE FROM library_record_media WHERE media_id = OLD.id; RETURN OLD; END $$""",
    """CREATE TRIGGER library_record_media_forget AFTER DELETE ON exports_librarymedia
    FOR EACH ROW EXECUTE FUNCTION library_record_media_forget()""",
    # The library page reads a user's records across platforms, newest first.
    "CREATE INDEX library_record_owner_time ON exports_libraryrecord (owner_id, timestamp DESC, id DESC)",
    # The charts are cached until the library changes: its latest change is one index lookup.
    "CREATE INDEX library_record_owner_seen ON exports_libraryrecord (owner_id, last_seen)",
    # What each export found changed: new, edited and gone records.
    """CREATE TABLE library_change (
        id bigserial PRIMARY KEY,
        owner_id bigint NOT NULL, platform_id varchar(32) NOT NULL, kind varchar(32) NOT NULL,
        record_id varchar(255) NOT NULL, change varchar(8) NOT NULL, job_id varchar(36) NOT NULL,
        at timestamp with time zone NOT NULL
    )""",
    "CREATE INDEX library_change_record ON library_change (owner_id, record_id, platform_id)",
    "CREATE INDEX library_change_job ON library_change (job_id)",
    """CREATE FUNCTION library_change_forget() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN DELETE FROM library_change WHERE owner_id = OLD.owner_id AND platform_id = OLD.platform_id
        AND kind = OLD.kind AND record_id = OLD.external_id; RETURN OLD; END $$""",
    """CREATE TRIGGER library_change_forget AFTER DELETE ON exports_libraryrecord
    FOR EACH ROW EXECUTE FUNCTION library_change_forget()""",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER library_change_forget ON exports_libraryrecord",
    "DROP FUNCTION library_change_forget()",
    "DROP TABLE library_change",
    "DROP INDEX library_record_owner_seen",
    "DROP INDEX library_record_owner_time",
    "DROP TRIGGER library_record_media_forget ON exports_librarymedia",
    "DROP FUNCTION library_record_media_forget()",
    "DROP TABLE library_record_media",
    "DROP TRIGGER library_search_forget ON exports_libraryrecord",
    "DROP FUNCTION library_search_forget()",
    "DROP TABLE library_search",
]

SQLITE = [
    # unicode61 folds case like PostgreSQL's `simple` and, like it, keeps accents (docs/library.md).
    "CREATE VIRTUAL TABLE library_search USING fts5(title, body, extra, tokenize = 'unicode61 remove_diacritics 0')",
    """CREATE TRIGGER library_search_forget AFTER DELETE ON exports_libraryrecord
    BEGIN DELETE FROM library_search WHERE rowid = OLD.id; END""",
    """CREATE TABLE library_record_media (
        owner_id integer NOT NULL, platform_id varchar(32) NOT NULL, record_id varchar(255) NOT NULL,
        media_id integer NOT NULL, PRIMARY KEY (media_id, record_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX library_record_media_record ON library_record_media (owner_id, record_id, platform_id)",
    """CREATE TRIGGER library_record_media_forget AFTER DELETE ON exports_librarymedia
    BEGIN DELETE FROM library_record_media WHERE media_id = OLD.id; END""",
    "CREATE INDEX library_record_owner_time ON exports_libraryrecord (owner_id, timestamp DESC, id DESC)",
    # The charts are cached until the library changes: its latest change is one index lookup.
    "CREATE INDEX library_record_owner_seen ON exports_libraryrecord (owner_id, last_seen)",
    # What each export found changed: new, edited and gone records.
    """CREATE TABLE library_change (
        id integer PRIMARY KEY AUTOINCREMENT,
        owner_id integer NOT NULL, platform_id varchar(32) NOT NULL, kind varchar(32) NOT NULL,
        record_id varchar(255) NOT NULL, change varchar(8) NOT NULL, job_id varchar(36) NOT NULL,
        at datetime NOT NULL
    )""",
    "CREATE INDEX library_change_record ON library_change (owner_id, record_id, platform_id)",
    "CREATE INDEX library_change_job ON library_change (job_id)",
    """CREATE TRIGGER library_change_forget AFTER DELETE ON exports_libraryrecord
    BEGIN DELETE FROM library_change WHERE owner_id = OLD.owner_id AND platform_id = OLD.platform_id
        AND kind = OLD.kind AND record_id = OLD.external_id; END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER library_change_forget",
    "DROP TABLE library_change",
    "DROP INDEX library_record_owner_seen",
    "DROP INDEX library_record_owner_time",
    "DROP TRIGGER library_record_media_forget",
    "DROP TABLE library_record_media",
    "DROP TRIGGER library_search_forget",
    "DROP TABLE library_search",
]


def _run(statements):
    def run(apps, schema_editor):
        for statement in statements[schema_editor.connection.vendor == "sqlite"]:
            schema_editor.execute(statement)

    return run


def backfill(apps, schema_editor):
    """Index the libraries that exist already."""
    from exports.library import media_links_write, search_document, search_rows_write

    LibraryMedia = apps.get_model("exports", "LibraryMedia")
    LibraryRecord = apps.get_model("exports", "LibraryRecord")
    media: dict[tuple, list] = {}
    links: dict[tuple, list] = {}
    for pk, owner, platform, media_id, ext, caption, record_ids in LibraryMedia.objects.values_list(
        "id", "owner_id", "platform_id", "media_id", "ext", "caption", "record_ids"
    ).iterator():
        links.setdefault((owner, platform), []).append((pk, record_ids))
        for record_id in record_ids:
            media.setdefault((owner, platform, str(record_id)), []).append((media_id, ext, caption))
    for (owner, platform), rows in links.items():
        media_links_write(owner_id=owner, platform_id=platform, rows=rows)
    batch = []
    for pk, owner, platform, kind, external_id, data in LibraryRecord.objects.values_list(
        "id", "owner_id", "platform_id", "kind", "external_id", "data"
    ).iterator():
        batch.append((pk, owner, *search_document(platform, kind, data, media.get((owner, platform, external_id), ()))))
        if len(batch) >= 500:
            search_rows_write(batch)
            batch = []
    search_rows_write(batch)


class Migration(migrations.Migration):
    dependencies = [("exports", "0007_everything")]

    operations = [
        migrations.RunPython(
            _run({False: POSTGRESQL, True: SQLITE}), _run({False: POSTGRESQL_REVERSE, True: SQLITE_REVERSE})
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
