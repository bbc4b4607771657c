from django.db import migrations

# Source archives of the user's repositories and the files of their gists. Downloads of kind
# "file" keep whatever extension the item names, so this list tells the export form what to
# expect rather than what the downloader refuses.
FILE_FORMATS = ["zip", "txt", "md", "py", "js", "ts", "json", "yaml", "yml", "sh", "rb", "go", "rs", "c", "css", "csv"]
# Where GitHub sends those downloads: the zipball endpoint redirects to codeload, raw gist files
# are served from gist.githubusercontent.com.
MEDIA_HOSTS = ["codeload.github.com", "gist.githubusercontent.com"]
NOTES = (
    "Files are the source archive (ZIP) of each repository you own, forks left out, and the files "
    "of your gists. Starred repositories are listed without their code."
)


def enable_files(apps, schema_editor):
    Platform = apps.get_model("platforms", "Platform")
    github = Platform.objects.filter(slug="github").first()
    if github is None:
        return
    github.supports_media = True
    github.file_formats = FILE_FORMATS
    github.max_file_size_mb = 1024
    github.media_hosts = [*github.media_hosts, *(h for h in MEDIA_HOSTS if h not in github.media_hosts)]
    if not github.notes:
        github.notes = NOTES
    github.save()


def disable_files(apps, schema_editor):
    Platform = apps.get_model("platforms", "Platform")
    github = Platform.objects.filter(slug="github").first()
    if github is None:
        return
    github.supports_media = False
    github.file_formats = []
    if github.notes == NOTES:
        github.notes = ""
    github.save()


class Migration(migrations.Migration):
    dependencies = [("platforms", "0002_seed_platforms")]
    operations = [migrations.RunPython(enable_files, disable_files)]
