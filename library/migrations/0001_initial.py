import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("exports", "0008_library_search")]

    operations = [
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                (
                    "record",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="search_entry",
                        serialize=False,
                        to="exports.libraryrecord",
                    ),
                ),
                ("owner_id", models.BigIntegerField()),
                ("title", models.TextField()),
                ("body", models.TextField()),
                ("extra", models.TextField()),
                ("vector", django.contrib.postgres.search.SearchVectorField()),
            ],
            options={"db_table": "library_search", "managed": False},
        ),
    ]
