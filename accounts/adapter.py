from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Our hook into allauth's social flows (token encryption happens on every save, see apps.py)."""
