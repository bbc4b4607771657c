from allauth.socialaccount.forms import DisconnectForm
from allauth.socialaccount.models import SocialAccount
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.selectors import platform_cards
from accounts.tokens import TokenKeyMissing, can_store_tokens


def account_label(account: SocialAccount) -> str:
    """The account's own name on the platform (its username, else its email or display name),
    never the local user's name that allauth's default str() gives."""
    try:
        name = account.get_provider_account().to_str()
    except Exception:  # noqa: BLE001 - a provider app removed by the operator must not break the page
        name = ""
    return name or account.uid


def safe_next(request) -> str:
    """Where the person started (a page of this site), or the Connections page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("connected")


@login_required
def connected(request):
    """The one Connections page: a card per platform with its state, the account's name there,
    and what can be done about it."""
    accounts = {a.provider: a for a in SocialAccount.objects.filter(user=request.user).order_by("id")}
    cards = platform_cards(request.user)
    for card in cards:
        account = accounts.get(card["platform"].provider_id)
        card["account"] = account
        card["account_label"] = account_label(account) if account else ""
    refused = "" if can_store_tokens() else str(TokenKeyMissing())
    return render(
        request, "accounts/connected.html", {"cards": cards, "next": safe_next(request), "tokens_refused": refused}
    )


@login_required
@require_POST
def disconnect(request, account_id: int):
    # allauth's own form checks the account is this user's and not their last way to sign in.
    form = DisconnectForm({"account": account_id}, request=request)
    if form.is_valid():
        form.save()
    else:
        for error in form.errors.get("__all__", []) or ["That connection is not yours or is already gone."]:
            messages.error(request, error)
    return redirect(safe_next(request))
