"""Webhooks: registered through the API, delivered signed to the sandbox's receiver, checked with
the Standard Webhooks reference library, retried with the same id, refused on private networks."""

import json
import time
import uuid
from datetime import timedelta

import pytest
import requests
from standardwebhooks import Webhook

from api import webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from exports import jobs
from exports.models import ExportJob
from tests.conftest import wait_for_job


def hook_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def received(base: str, name: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = requests.get(f"{base}/_hooks/{name}", timeout=5).json()
        if len(got) >= count:
            return got
        time.sleep(0.3)
    raise AssertionError(f"{name} received {len(got)} of {count} deliveries")


def verified(secret: str, delivery: dict) -> dict:
    """The body, after the reference library checked the signature (it raises otherwise)."""
    return Webhook(secret).verify(delivery["body"], delivery["headers"])


def register(api, url: str, events=("export.succeeded", "export.failed")) -> dict:
    response = api.post("/api/v1/webhooks", {"url": url, "events": list(events)})
    assert response.status_code == 201, response.content
    return response.json()


# --- on a real worker ----------------------------------------------------------------------------
@pytest.mark.pipeline
def test_a_finished_export_is_delivered_signed_to_the_endpoint(live, make_user, connect, api_as):
    user = make_user("hooked")
    connect(user, "github")
    name = hook_name()
    created = register(api_as(user), f"{live}/_hooks/{name}")
    assert created["secret"].startswith("whsec_") and created["id"]

    job = wait_for_job(jobs.export_job_create(owner=user, platform_slug="github"))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    [delivery] = received(live, name)
    payload = verified(created["secret"], delivery)
    assert payload["type"] == "export.succeeded"
    assert payload["data"]["id"] == str(job.id)
    assert payload["data"]["status"] == "succeeded" and payload["data"]["records"] == 37
    assert payload["data"]["download_url"].endswith(f"/api/v1/exports/{job.id}/archive")
    assert delivery["headers"]["webhook-id"]

    row = WebhookDelivery.objects.get(endpoint_id=created["id"])
    assert row.status == WebhookDelivery.Status.DELIVERED and row.response_code == 200 and row.attempts == 1
    log = api_as(user).get(f"/api/v1/webhooks/{created['id']}/deliveries").json()
    assert [(d["event"], d["status"], d["response_code"]) for d in log] == [("export.succeeded", "delivered", 200)]


@pytest.mark.pipeline
def test_a_failed_export_fires_export_failed_only_to_endpoints_that_asked(live, make_user, connect, api_as):
    user = make_user("hooked2")
    connect(user, "github", token="revoked-token")
    failed_name, succeeded_name = hook_name(), hook_name()
    api = api_as(user)
    wants_failed = register(api, f"{live}/_hooks/{failed_name}", events=["export.failed"])
    register(api, f"{live}/_hooks/{succeeded_name}", events=["export.succeeded"])

    job = wait_for_job(jobs.export_job_create(owner=user, platform_slug="github"))
    assert job.status == ExportJob.Status.FAILED
    [delivery] = received(live, failed_name)
    payload = verified(wants_failed["secret"], delivery)
    assert payload["type"] == "export.failed" and "Reconnect" in payload["data"]["error"]
    assert requests.get(f"{live}/_hooks/{succeeded_name}", timeout=5).json() == []


# --- the delivery service, called directly ---------------------------------------------------------
@pytest.fixture
def hooked(db, make_user, platforms, connect, sandbox_process, settings):
    settings.STAREXPORT_SANDBOX = sandbox_process
    user = make_user("carol")
    connect(user, "github")
    job = jobs.export_job_create(owner=user, platform_slug="github", enqueue=False)
    ExportJob.objects.filter(id=job.id).update(status=ExportJob.Status.SUCCEEDED)
    job.refresh_from_db()
    name = hook_name()
    endpoint, secret = webhooks.endpoint_create(
        owner=user, url=f"{sandbox_process}/_hooks/{name}", events=["export.succeeded"]
    )
    return {"user": user, "job": job, "name": name, "endpoint": endpoint, "secret": secret, "base": sandbox_process}


def test_an_endpoint_that_fails_is_tried_again_with_the_same_message_id(hooked):
    base, name = hooked["base"], hooked["name"]
    requests.post(f"{base}/_hooks/{name}/answer", json={"status": 503, "times": 2}, timeout=5)
    assert webhooks.job_events_fire(hooked["job"]) == 1
    assert webhooks.job_events_fire(hooked["job"]) == 0  # the same ending of the job is queued once
    delivery = WebhookDelivery.objects.get(endpoint=hooked["endpoint"])

    assert webhooks.delivery_attempt(delivery.id, 0) == 5
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("pending", 503, 1)
    assert "answered 503" in delivery.last_error
    assert webhooks.delivery_attempt(delivery.id, 0) is None  # a redelivered task: nothing twice
    assert webhooks.delivery_attempt(delivery.id, 1) == 60
    assert webhooks.delivery_attempt(delivery.id, 2) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("delivered", 200, 3)

    got = received(base, name, 3)
    assert [d["answered"] for d in got] == [503, 503, 200]
    assert len({d["headers"]["webhook-id"] for d in got}) == 1
    for d in got:
        assert verified(hooked["secret"], d)["data"]["id"] == str(hooked["job"].id)


def test_a_delivery_is_given_up_a_day_after_the_event(hooked):
    base, name = hooked["base"], hooked["name"]
    requests.post(f"{base}/_hooks/{name}/answer", json={"status": 500, "times": 5}, timeout=5)
    webhooks.job_events_fire(hooked["job"])
    delivery = WebhookDelivery.objects.get(endpoint=hooked["endpoint"])
    WebhookDelivery.objects.filter(id=delivery.id).update(
        created_at=delivery.created_at - timedelta(hours=23, minutes=59, seconds=58)
    )
    assert webhooks.delivery_attempt(delivery.id, 0) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.response_code == 500


def test_a_forged_or_altered_delivery_does_not_verify(hooked):
    webhooks.job_events_fire(hooked["job"])
    delivery = WebhookDelivery.objects.get(endpoint=hooked["endpoint"])
    webhooks.delivery_attempt(delivery.id, 0)
    [got] = received(hooked["base"], hooked["name"])
    altered = dict(got, body=got["body"].replace("succeeded", "failed"))
    with pytest.raises(Exception, match="(?i)signature"):
        verified(hooked["secret"], altered)
    _, other_secret = webhooks.endpoint_create(
        owner=hooked["user"], url=hooked["endpoint"].url, events=["export.failed"]
    )
    with pytest.raises(Exception, match="(?i)signature"):
        verified(other_secret, got)


def test_a_redirect_to_a_private_address_is_refused_at_delivery(hooked):
    base = hooked["base"]
    # Registered on the allowed sandbox origin, the address then redirects to another loopback port.
    endpoint, _ = webhooks.endpoint_create(
        owner=hooked["user"],
        url=f"{base}/github/media/a.jpg?redirect=http://127.0.0.1:9/_hooks/x",
        events=["export.succeeded"],
    )
    webhooks.job_events_fire(hooked["job"])
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert webhooks.delivery_attempt(delivery.id, 0) == 5
    delivery.refresh_from_db()
    assert "private, loopback or link-local" in delivery.last_error and delivery.response_code is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "javascript:alert(1)",
    ],
)
def test_webhooks_to_private_or_odd_addresses_are_refused(hooked, api_as, url):
    response = api_as(hooked["user"]).post("/api/v1/webhooks", {"url": url, "events": ["export.succeeded"]})
    assert response.status_code == 400
    assert response.json()["field"] == "url"


def test_unknown_events_are_refused(hooked, api_as):
    response = api_as(hooked["user"]).post("/api/v1/webhooks", {"url": hooked["endpoint"].url, "events": ["job.done"]})
    assert response.status_code == 400 and "Unknown event job.done" in response.json()["detail"]


def test_the_secret_is_shown_once_and_kept_encrypted(hooked, api_as, settings, client):
    api = api_as(hooked["user"])
    created = register(api, hooked["endpoint"].url)
    row = WebhookEndpoint.objects.get(id=created["id"])
    assert row.secret.startswith("fernet:") and created["secret"] not in row.secret
    listed = json.dumps(api.get("/api/v1/webhooks").json())
    assert created["url"] in listed and created["secret"] not in listed
    client.force_login(hooked["user"])
    page = client.post("/accounts/webhooks/", {"url": hooked["endpoint"].url, "events": ["export.failed"]})
    assert page.status_code == 201 and page.context["created"]["secret"] in page.content.decode()
    assert page.context["created"]["secret"] not in client.get("/accounts/webhooks/").content.decode()


def test_the_delivery_log_is_on_the_page_and_in_the_admin(hooked, client, admin_client):
    requests.post(f"{hooked['base']}/_hooks/{hooked['name']}/answer", json={"status": 410}, timeout=5)
    webhooks.job_events_fire(hooked["job"])
    delivery = WebhookDelivery.objects.get(endpoint=hooked["endpoint"])
    webhooks.delivery_attempt(delivery.id, 0)
    client.force_login(hooked["user"])
    page = client.get("/accounts/webhooks/").content.decode()
    assert "export.succeeded" in page and "410" in page and "answered 410" in page
    admin = admin_client.get("/admin/api/webhookdelivery/").content.decode()
    assert "export.succeeded" in admin and "410" in admin
    assert admin_client.get(f"/admin/api/webhookendpoint/{hooked['endpoint'].id}/change/").status_code == 200


def test_a_scheduled_export_that_found_something_new_fires_schedule_new_items(hooked):
    job = hooked["job"]
    endpoint, _ = webhooks.endpoint_create(
        owner=hooked["user"], url=hooked["endpoint"].url, events=["schedule.new_items"]
    )
    ExportJob.objects.filter(id=job.id).update(options={"scheduled": True, "only_new": True}, new_records=0)
    job.refresh_from_db()
    assert webhooks.job_events_fire(job) == 1  # export.succeeded to the first endpoint only
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    ExportJob.objects.filter(id=job.id).update(new_records=3, succeeded_at=job.created_at)
    job.refresh_from_db()
    webhooks.job_events_fire(job)
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.event == "schedule.new_items" and delivery.payload["type"] == "schedule.new_items"


def test_deliveries_whose_task_was_lost_are_sent_again(hooked, django_capture_on_commit_callbacks):
    from api import delivery as archive_delivery

    webhooks.job_events_fire(hooked["job"])
    row = WebhookDelivery.objects.get(endpoint=hooked["endpoint"])
    assert webhooks.lost_deliveries_resend() == 0  # just queued: its task is on its way
    WebhookDelivery.objects.filter(id=row.id).update(created_at=row.created_at - timedelta(minutes=20))
    with django_capture_on_commit_callbacks() as sent:
        assert webhooks.lost_deliveries_resend() == 1
    assert len(sent) == 1
    webhooks.delivery_attempt(row.id, 0)
    assert webhooks.lost_deliveries_resend() == 0  # delivered
    assert archive_delivery.lost_deliveries_resend() == 0
