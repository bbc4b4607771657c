"""The exports app's settings (`settings.STAREXPORT`), read at call time so tests can change them."""

from typing import Any

from django.conf import settings


def setting(name: str) -> Any:
    return settings.STAREXPORT[name]
