"""Sandbox tokens: signed, so the sandbox, `demo_setup` and the token endpoint agree without a
shared database. A token names its platform and identity; anything else is refused with 401."""

from django.core import signing

SALT = "starexport.sandbox.token"


def mint_token(slug: str, user: str, *, kind: str = "access") -> str:
    return "sbx." + signing.dumps({"p": slug, "u": user, "k": kind}, salt=SALT, compress=True)


def verify_token(slug: str, token: str | None, *, kind: str = "access") -> str | None:
    """The identity the token was issued to on this platform, or None."""
    if not token or not token.startswith("sbx."):
        return None
    try:
        data = signing.loads(token[4:], salt=SALT)
    except signing.BadSignature:
        return None
    if data.get("p") != slug or data.get("k") != kind:
        return None
    return data.get("u")
