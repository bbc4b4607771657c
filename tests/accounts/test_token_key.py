"""OAuth tokens are never stored in plain text: without STAREXPORT_TOKEN_KEY nothing is connected."""

import os
import stat
import subprocess
import sys

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.tokens import TokenKeyMissing, create_key_file, store_token
from tests.accounts.test_oauth_sandbox import oauth_sandbox, sign_in  # noqa: F401 — oauth_sandbox is a fixture
from tests.conftest import ROOT
from tests.reliability.test_web_security import check_deploy, production_env


@pytest.fixture
def no_key(settings):
    settings.STAREXPORT_TOKEN_KEY = ""


def test_storing_a_token_without_a_key_is_refused_and_names_the_setting(db, make_user, no_key):
    account = SocialAccount.objects.create(user=make_user("kim"), provider="github", uid="kim")
    with pytest.raises(TokenKeyMissing, match="STAREXPORT_TOKEN_KEY"):
        store_token(account, access="gho_plain_text_token")
    # allauth's own way of saving one is refused the same way.
    with pytest.raises(TokenKeyMissing):
        SocialToken.objects.create(account=account, token="gho_plain_text_token")
    assert not SocialToken.objects.exists()


def test_connecting_an_account_without_a_key_is_refused_with_the_setting_named(
    oauth_sandbox,  # noqa: F811
    live_server,
    transactional_db,
    platforms,
    make_user,
    no_key,
):
    user = make_user("lea")
    with requests.Session() as session:
        sign_in(session, live_server.url, "lea", "pw-lea")
        response = session.post(
            f"{live_server.url}/accounts/github/login/?process=connect",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        )
    assert response.url == f"{live_server.url}/accounts/connected/"
    assert "STAREXPORT_TOKEN_KEY is not set" in response.text
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not SocialToken.objects.exists()


def test_demo_setup_without_a_key_stops_with_the_setting_named(db, platforms, no_key, settings):
    settings.STAREXPORT_SANDBOX = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="STAREXPORT_TOKEN_KEY"):
        call_command("demo_setup")


def environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO", "STAREXPORT_TOKEN_KEY"))}
    env.update(extra, DJANGO_SETTINGS_MODULE="starexport.settings")
    return env


def test_check_deploy_without_a_key_is_an_error(tmp_path):
    """Production values but no key: an ERROR (tokens would have nowhere to go), not a warning to skip."""
    result = check_deploy(production_env(STAREXPORT_TOKEN_KEY=""), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ERRORS:" in output and "starexport.E001" in output and "STAREXPORT_TOKEN_KEY" in output


def test_the_key_file_is_made_once_private_and_read_by_settings(tmp_path):
    var = tmp_path / "var"
    env = environment(STAREXPORT_VAR_DIR=str(var))
    run = [sys.executable, "manage.py", "token_key"]
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    key = (var / "token.key").read_text().strip()
    assert stat.S_IMODE((var / "token.key").stat().st_mode) == 0o600
    again = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "Kept" in again.stdout and (var / "token.key").read_text().strip() == key
    code = "import django; django.setup(); from django.conf import settings; print(settings.STAREXPORT_TOKEN_KEY)"
    read = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert read.stdout.strip().splitlines()[-1] == key


def test_an_existing_key_file_is_never_replaced(tmp_path):
    path = tmp_path / "token.key"
    path.write_text("the key tokens were stored under\n")
    assert create_key_file(path) is False
    assert path.read_text() == "the key tokens were stored under\n"
