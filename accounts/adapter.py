from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect

from accounts.tokens import TokenKeyMissing, can_store_tokens


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Our hook into allauth's social flows (token encryption happens on every save, see apps.py)."""

    def pre_social_login(self, request, sociallogin):
        # The platform has just handed over a token: without a key it would be stored in plain
        # text, so the connection is refused here, with the setting named, before anything is saved.
        if not can_store_tokens():
            if request.user.is_authenticated:
                raise ImmediateHttpResponse(redirect("connected"))  # whose page says why
            messages.error(request, str(TokenKeyMissing()))
            raise ImmediateHttpResponse(redirect("account_login"))
        super().pre_social_login(request, sociallogin)
