from django.db import migrations, models

EVERYTHING = {
    "slug": "all",
    "display_name": "Everything",
    "icon": "platforms/starexport.svg",
    "api_base_url": "https://localhost/",
    "provider_id": "",
    "export_formats": ["json", "csv"],
    "rate_limit_per_hour": 0,
    "supports_media": True,
    # What the parts may bring; each part keeps to its own platform's formats.
    "image_formats": ["jpg", "png", "gif", "webp"],
    "video_formats": ["mp4", "mov", "webm"],
    "file_formats": ["zip"],
    # Not a platform of its own: never listed as one, only offered as "Everything".
    "enabled": False,
    "notes": "One export of every platform you have connected, in one archive.",
}


def add_everything(apps, schema_editor):
    Platform = apps.get_model("platforms", "Platform")
    Platform.objects.update_or_create(slug=EVERYTHING["slug"], defaults=EVERYTHING)


class Migration(migrations.Migration):
    dependencies = [("exports", "0006_mediafile_lease_owner"), ("platforms", "0003_github_files")]

    operations = [
        migrations.AddField(
            model_name="exportjob",
            name="parent",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=models.deletion.CASCADE, related_name="parts", to="exports.exportjob"
            ),
        ),
        migrations.RunPython(add_everything, migrations.RunPython.noop),
    ]
