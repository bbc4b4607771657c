from allauth.socialaccount.models import SocialAccount, SocialApp
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import render

from accounts.selectors import platform_cards
from accounts.tokens import TokenKeyMissing, can_store_tokens


def account_label(account: SocialAccount) -> str:
    try:
        return str(account)
    except (SocialApp.DoesNotExist, ImproperlyConfigured):
        # allauth names an account through its provider app; when the operator has not (or no
        # longer) configured that app, the uid is all we can show.
        return account.uid


@login_required
def connected(request):
    accounts = {a.provider: a for a in SocialAccount.objects.filter(user=request.user).order_by("id")}
    cards = platform_cards(request.user)
    for card in cards:
        account = accounts.get(card["platform"].provider_id)
        card["account"] = account
        card["account_label"] = account_label(account) if account else ""
    refused = "" if can_store_tokens() else str(TokenKeyMissing())
    return render(request, "accounts/connected.html", {"cards": cards, "tokens_refused": refused})
