"""The admin as an operator reads it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from exports.models import ExportJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(platforms):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-password-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def demo_jobs(make_user):
    demo = make_user("demo")
    api = ExportJob.objects.create(owner=demo, platform_id="reddit", formats=["json"])
    imported = ExportJob.objects.create(owner=demo, platform_id="twitter", source=ExportJob.Source.ARCHIVE)
    return api, imported


def test_the_admin_index_has_one_accounts_section(operator):
    html = operator.get(reverse("admin:index")).content.decode()
    sections = re.findall(r'<caption>\s*<a[^>]*class="section"[^>]*>([^<]+)</a>', html)
    assert sections.count("Accounts") == 1, sections
    assert "Social Accounts" not in sections
    accounts = html[html.index(">Accounts</a>") : html.index("</table>", html.index(">Accounts</a>"))]
    for model in ["Users", "Email addresses", "Social accounts", "Social application tokens"]:
        assert model in accounts, model


def test_jobs_are_titled_for_people_with_their_source_and_cannot_be_added(operator, demo_jobs):
    api, imported = demo_jobs
    html = operator.get(reverse("admin:exports_exportjob_changelist")).content.decode()
    assert f"Reddit export · {api.created_at:%-d %b %Y} · demo" in html
    assert f"Twitter / X archive import · {imported.created_at:%-d %b %Y} · demo" in html
    assert "API / archive import" in html
    assert f'<span class="uuid">{api.id}</span>' in html
    assert "css/admin.css" in html
    assert reverse("admin:exports_exportjob_add") not in html
    assert operator.get(reverse("admin:exports_exportjob_add")).status_code == 403
    change = operator.get(reverse("admin:exports_exportjob_change", args=[api.id])).content.decode()
    assert f"<h2>Reddit export · {api.created_at:%-d %b %Y} · demo</h2>" in change
