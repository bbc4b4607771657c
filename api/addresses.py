"""Addresses a user gives us (a webhook, a storage endpoint) must be public servers: the same
requests-hardened check that guards media downloads, made when the address is saved."""

from __future__ import annotations

import requests
from requests_hardened.ip_filter import InvalidIPAddress, filter_host

from platforms.client import origin, sandbox_origin
from platforms.safety import http_url


class AddressError(ValueError):
    pass


def public_url(url: str, *, allowed_origins: frozenset[str] | set[str] = frozenset()) -> str:
    """`url` when it is an http(s) address of a public server (or of an origin the operator
    allowed, or the configured sandbox); AddressError with the reason otherwise."""
    url = http_url(url) or ""
    if not url or len(url) > 2048:
        raise AddressError("Give an http:// or https:// address.")
    scheme, host, port = origin(url)
    if not host:
        raise AddressError("The address has no host name.")
    here = f"{scheme}://{host}:{port}"
    if here == sandbox_origin() or here in allowed_origins:
        return url
    try:
        filter_host(host, port, allow_loopback=False)
    except InvalidIPAddress:
        raise AddressError(
            "That address is on a private, loopback or link-local network; only public servers are allowed."
        ) from None
    except requests.RequestException:
        raise AddressError(f"{host} cannot be found.") from None
    return url


def guarded_session_allowing(allowed_origins) -> requests.Session:
    """The media downloads' guarded session, plus the origins on private networks an operator
    allowed by name (exact scheme, host and port), for storage a user keeps at home."""
    from requests.adapters import HTTPAdapter

    from platforms.client import guarded_session

    session = guarded_session(retries=0)
    for allowed in allowed_origins:
        session.mount(allowed.rstrip("/") + "/", HTTPAdapter(max_retries=0))
    return session
