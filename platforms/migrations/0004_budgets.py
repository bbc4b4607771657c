from django.db import migrations, models

# The windows and daily units the platforms count their apps' requests in (issue: instance-wide
# rate budgets). Reddit allows about 1,000 requests per 10 minutes per client id, X counts per
# 15-minute window, YouTube 10,000 units a day per Google project.
BUDGETS = {
    "reddit": {"rate_limit_per_hour": 6000, "rate_window_seconds": 600},
    "twitter": {"rate_window_seconds": 900},
    "youtube": {"daily_units": 10000},
}


def set_budgets(apps, schema_editor):
    Platform = apps.get_model("platforms", "Platform")
    for slug, values in BUDGETS.items():
        Platform.objects.filter(slug=slug).update(**values)


class Migration(migrations.Migration):
    dependencies = [("platforms", "0003_github_files")]

    operations = [
        migrations.AlterField(
            model_name="platform",
            name="rate_limit_per_hour",
            field=models.PositiveIntegerField(
                default=5000, help_text="API requests the platform allows this site's app, shared by every user's export."
            ),
        ),
        migrations.AddField(
            model_name="platform",
            name="rate_window_seconds",
            field=models.PositiveIntegerField(
                default=3600,
                help_text="The window the platform counts requests in (Reddit: 600 s): at most "
                "rate_limit_per_hour × window / 3600 requests in any such window.",
            ),
        ),
        migrations.AddField(
            model_name="platform",
            name="daily_units",
            field=models.PositiveIntegerField(
                default=0, help_text="Quota units the app may spend per day (YouTube: 10,000); 0 where there are none."
            ),
        ),
        migrations.RunPython(set_budgets, migrations.RunPython.noop),
    ]
