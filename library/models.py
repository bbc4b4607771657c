"""The library's rows are exports' (LibraryRecord, LibraryMedia); this app only reads them.

`SearchEntry` maps the PostgreSQL search table that exports/library.py keeps in step (created by
exports migration 0007), so the ORM's full-text search expressions can use it. On SQLite the
index is an FTS5 table that library/search.py queries with SQL of its own.
"""

from django.contrib.postgres.search import SearchVectorField
from django.db import models


class SearchEntry(models.Model):
    record = models.OneToOneField(
        "exports.LibraryRecord",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="search_entry",
    )
    owner_id = models.BigIntegerField()
    title = models.TextField()
    body = models.TextField()
    extra = models.TextField()
    vector = SearchVectorField()

    class Meta:
        managed = False
        db_table = "library_search"
