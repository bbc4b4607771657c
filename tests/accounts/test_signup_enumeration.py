"""Sign-up does not tell who has an account: with mail that reaches people, both answers match."""

import os
import re
import subprocess
import sys
import uuid

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_signup(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.ACCOUNT_PREVENT_ENUMERATION = True
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def sign_up(username: str, email: str):
    client = Client()
    data = {
        "username": username,
        "email": email,
        "password1": "a-long-pass-phrase-42",
        "password2": "a-long-pass-phrase-42",
    }
    first = client.post(reverse("account_signup"), data)
    page = client.get(first["Location"]) if first.status_code == 302 else first
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.content.decode())
    # The address typed is shown back to the person who typed it; everything else must match.
    text = text.replace(email, "<the address typed>")
    return first.status_code, first.get("Location"), page.status_code, text


def test_an_address_with_an_account_and_a_new_one_get_the_same_answer(make_user, production_signup):
    make_user("taken", email="taken@example.com")
    existing = sign_up("someone", "taken@example.com")
    fresh = sign_up("someone2", "fresh@example.com")
    assert existing == fresh
    assert "A user is already registered" not in existing[3]
    assert existing[0] == 302 and existing[1] == reverse("account_email_verification_sent")
    # Each address got one email: the owner of the taken one is told, not the person signing up.
    assert sorted(m.to[0] for m in mail.outbox) == ["fresh@example.com", "taken@example.com"]


def settings_value(name: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    environment.update(env, DJANGO_SETTINGS_MODULE="starexport.settings")
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_verification_is_mandatory_where_mail_is_sent_and_optional_with_console_mail():
    assert settings_value("ACCOUNT_EMAIL_VERIFICATION", EMAIL_URL="smtp://mail.example:25") == "mandatory"
    assert settings_value("ACCOUNT_EMAIL_VERIFICATION", EMAIL_URL="") == "optional"
    assert settings_value("ACCOUNT_PREVENT_ENUMERATION", EMAIL_URL="") == "True"
