from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exports", "0005_uploads")]

    operations = [
        migrations.AddField(
            model_name="mediafile",
            name="lease_owner",
            field=models.CharField(blank=True, help_text="The worker downloading it.", max_length=128),
        ),
    ]
