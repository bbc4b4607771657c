from django.db import migrations

# Defaults per platform; operators change them in the admin afterwards.
PLATFORMS = [
    {
        "slug": "youtube",
        "display_name": "YouTube",
        "icon": "platforms/youtube.svg",
        "api_base_url": "https://www.googleapis.com",
        "token_url": "https://oauth2.googleapis.com/token",
        "provider_id": "google",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 10000,
        "supports_media": True,
        "image_formats": ["jpg", "png"],
        "video_formats": [],
        "max_file_size_mb": 2048,
        "media_hosts": ["ytimg.com", "ggpht.com", "googleusercontent.com"],
        "notes": "YouTube's API gives your videos' details and thumbnails, not the video files: "
        "Google Takeout has the originals.",
    },
    {
        "slug": "instagram",
        "display_name": "Instagram",
        "icon": "platforms/instagram.svg",
        "api_base_url": "https://graph.instagram.com",
        "token_url": "https://api.instagram.com/oauth/access_token",
        "provider_id": "instagram",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 200,
        "supports_media": True,
        "image_formats": ["jpg", "png"],
        "video_formats": ["mp4", "mov"],
        "max_file_size_mb": 1024,
        "media_hosts": ["cdninstagram.com", "fbcdn.net"],
        "notes": "Instagram's API serves professional (business and creator) accounts.",
    },
    {
        "slug": "facebook",
        "display_name": "Facebook",
        "icon": "platforms/facebook.svg",
        "api_base_url": "https://graph.facebook.com",
        "token_url": "https://graph.facebook.com/oauth/access_token",
        "provider_id": "facebook",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 200,
        "supports_media": True,
        "image_formats": ["jpg", "png", "gif"],
        "video_formats": ["mp4", "mov"],
        "max_file_size_mb": 1024,
        "media_hosts": ["fbcdn.net", "facebook.com"],
        "notes": "",
    },
    {
        "slug": "twitter",
        "display_name": "Twitter / X",
        "icon": "platforms/twitter.svg",
        "api_base_url": "https://api.twitter.com",
        "token_url": "https://api.twitter.com/2/oauth2/token",
        "provider_id": "twitter_oauth2",
        "auth_type": "oauth2_pkce",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 900,
        "supports_media": True,
        "image_formats": ["jpg", "png", "gif"],
        "video_formats": ["mp4", "mov"],
        "max_file_size_mb": 512,
        "media_hosts": ["twimg.com"],
        "notes": "The API reaches your 3,200 most recent posts; your X archive has the rest.",
    },
    {
        "slug": "reddit",
        "display_name": "Reddit",
        "icon": "platforms/reddit.svg",
        "api_base_url": "https://oauth.reddit.com",
        "token_url": "https://www.reddit.com/api/v1/access_token",
        "provider_id": "reddit",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 3600,
        "supports_media": True,
        "image_formats": ["jpg", "png", "gif"],
        "video_formats": ["mp4"],
        "max_file_size_mb": 100,
        "media_hosts": ["redd.it", "redditmedia.com", "redditstatic.com", "imgur.com", "reddit.com"],
        "notes": "Reddit's listings stop at 1,000 items each; your data request has the rest.",
    },
    {
        "slug": "github",
        "display_name": "GitHub",
        "icon": "platforms/github.svg",
        "api_base_url": "https://api.github.com",
        "token_url": "https://github.com/login/oauth/access_token",
        "provider_id": "github",
        "export_formats": ["json", "csv"],
        "rate_limit_per_hour": 5000,
        "supports_media": False,
        "image_formats": [],
        "video_formats": [],
        "max_file_size_mb": 1024,
        "media_hosts": ["githubusercontent.com", "github.com", "api.github.com", "codeload.github.com"],
        "notes": "",
    },
]


def seed(apps, schema_editor):
    Platform = apps.get_model("platforms", "Platform")
    for row in PLATFORMS:
        Platform.objects.update_or_create(slug=row["slug"], defaults=row)


def unseed(apps, schema_editor):
    apps.get_model("platforms", "Platform").objects.filter(slug__in=[p["slug"] for p in PLATFORMS]).delete()


class Migration(migrations.Migration):
    dependencies = [("platforms", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
