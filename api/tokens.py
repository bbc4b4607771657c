"""Personal access tokens: created (shown once), checked on every API call, revoked."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from api.models import ApiToken

TOKEN_PREFIX = "se_"
SCOPES = tuple(ApiToken.Scope.values)


class TokenRequestError(ValueError):
    pass


def token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *, owner, name: str = "", scopes: list[str] | None = None, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token itself, which is never stored or shown again."""
    scopes = sorted(set(scopes or ["read"]))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise TokenRequestError(f"Unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenRequestError("The expiry date is in the past.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        owner=owner,
        name=(name or "API token").strip()[:100],
        prefix=token[:10],
        token_hash=token_hash(token),
        scopes=scopes,
        expires_at=expires_at,
    )
    return row, token


def api_token_authenticate(token: str) -> ApiToken | None:
    """The active token row for this bearer value, its "last used" updated; None otherwise."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = timezone.now()
    row = (
        ApiToken.objects.select_related("owner")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True, owner__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if row is None:
        return None
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    row.last_used_at = now
    return row


def api_token_revoke(*, owner, token_id: int) -> bool:
    return bool(
        ApiToken.objects.filter(pk=token_id, owner=owner, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
