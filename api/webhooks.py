"""Webhooks: a user's endpoints, the events a finished job fires, and their signed delivery.

Deliveries follow the Standard Webhooks scheme (https://www.standardwebhooks.com/): the headers
`webhook-id` (the same on every retry of one message), `webhook-timestamp` and
`webhook-signature` = "v1," + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")). They go
through the same guarded session as media downloads, so an endpoint can never reach a private,
loopback or link-local address, on the first request or after a redirect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from requests_hardened.ip_filter import InvalidIPAddress

from accounts.tokens import decrypt, encrypt
from api.addresses import AddressError, public_url
from api.models import WebhookDelivery, WebhookEndpoint
from exports.models import ExportJob
from exports.selectors import job_status_payload
from platforms.client import guarded_session

log = logging.getLogger(__name__)

EVENTS = tuple(WebhookEndpoint.Event.values)
DELIVER_TASK = "api.tasks.deliver_webhook"
SECRET_PREFIX = "whsec_"
Status = WebhookDelivery.Status


class WebhookRequestError(ValueError):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


def _conf(name: str):
    return settings.STAREXPORT[name]


def url_check(url: str) -> str:
    """The URL when a delivery may go there; WebhookRequestError with the reason otherwise."""
    try:
        return public_url(url)
    except AddressError as exc:
        raise WebhookRequestError(str(exc), field="url") from None


def endpoint_create(*, owner, url: str, events: list[str]) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret, which is shown this once."""
    events = sorted(set(events or []))
    if not events:
        raise WebhookRequestError("Choose at least one event.", field="events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise WebhookRequestError(
            f"Unknown event {', '.join(unknown)}; choose from {', '.join(EVENTS)}.", field="events"
        )
    if WebhookEndpoint.objects.filter(owner=owner).count() >= _conf("WEBHOOKS_PER_USER"):
        raise WebhookRequestError(f"You have {_conf('WEBHOOKS_PER_USER')} webhooks already; remove one first.")
    url = url_check(url)
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint = WebhookEndpoint.objects.create(owner=owner, url=url, events=events, secret=encrypt(secret))
    return endpoint, secret


def endpoint_delete(*, owner, endpoint_id: int) -> bool:
    deleted, _ = WebhookEndpoint.objects.filter(owner=owner, pk=endpoint_id).delete()
    return bool(deleted)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def job_events(job: ExportJob) -> list[str]:
    if job.status == ExportJob.Status.FAILED:
        return ["export.failed"]
    if job.status != ExportJob.Status.SUCCEEDED:
        return []
    events = ["export.succeeded"]
    if job.options.get("scheduled") and (job.new_records or job.media_done - job.media_reused):
        events.append("schedule.new_items")
    return events


def job_events_fire(job: ExportJob) -> int:
    """Queue one delivery per endpoint and event for a job that ended. Safe to call again for
    the same ending: the message id is derived from it, so nothing is delivered twice."""
    events = job_events(job)
    if not events:
        return 0
    ended = job.succeeded_at or job.failed_at or timezone.now()
    site = settings.SITE_URL
    data = job_status_payload(job, download_url=f"{site}/api/v1/exports/{job.id}/archive" if job.archive_name else None)
    queued = 0
    for endpoint in WebhookEndpoint.objects.filter(owner_id=job.owner_id, enabled=True):
        for event in events:
            if event not in endpoint.events:
                continue
            message_id = f"msg_{job.id.hex}_{event}_{int(ended.timestamp())}"
            payload = {"type": event, "timestamp": ended.isoformat(), "data": data}
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(
                        endpoint=endpoint, message_id=message_id, event=event, payload=payload
                    )
                    _send_after_commit(delivery.id, 0)
            except IntegrityError:
                continue  # already queued for this ending of the job
            queued += 1
    return queued


def _send_after_commit(delivery_id: int, attempt: int, countdown: float = 0) -> None:
    from celery import current_app

    transaction.on_commit(
        lambda: current_app.send_task(DELIVER_TASK, args=[delivery_id, attempt], countdown=countdown), robust=True
    )


def delivery_attempt(delivery_id: int, attempt: int) -> float | None:
    """Make attempt number `attempt` (0 first) of a delivery. Returns the seconds to wait before
    the next attempt, or None when the delivery is over (delivered, given up, or not ours to make:
    a redelivered task whose attempt was already made does nothing)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(id=delivery_id, status=Status.PENDING, attempts=attempt).update(
        attempts=attempt + 1, last_attempt_at=now, next_attempt_at=None
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(id=delivery_id)
    code, error = _post(delivery)
    if code is not None and 200 <= code < 300:
        WebhookDelivery.objects.filter(id=delivery_id).update(
            status=Status.DELIVERED, response_code=code, last_error="", delivered_at=timezone.now()
        )
        return None
    delays = _conf("WEBHOOK_RETRY_DELAYS")
    give_up_at = delivery.created_at + timedelta(seconds=_conf("WEBHOOK_RETRY_SECONDS"))
    delay = delays[attempt] if attempt < len(delays) else None
    if delay is None or now + timedelta(seconds=delay) > give_up_at:
        WebhookDelivery.objects.filter(id=delivery_id).update(
            status=Status.FAILED, response_code=code, last_error=error
        )
        return None
    WebhookDelivery.objects.filter(id=delivery_id).update(
        response_code=code, last_error=error, next_attempt_at=now + timedelta(seconds=delay)
    )
    return delay


def delivery_schedule_next(delivery_id: int, attempt: int, delay: float) -> None:
    _send_after_commit(delivery_id, attempt, countdown=delay)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the signed message; (status code or None, what went wrong or "")."""
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(decrypt(endpoint.secret), delivery.message_id, timestamp, body),
    }
    session = guarded_session(retries=0)
    session.max_redirects = 3
    try:
        with session:
            response = session.post(endpoint.url, data=body, headers=headers, timeout=_conf("WEBHOOK_TIMEOUT"))
            response.close()
    except InvalidIPAddress:
        return None, "Refused: the address is on a private, loopback or link-local network."
    except requests.TooManyRedirects:
        return None, "Too many redirects."
    except requests.Timeout:
        return None, "The endpoint did not answer in time."
    except requests.RequestException as exc:
        return None, f"Could not connect ({type(exc).__name__})."
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"The endpoint answered {response.status_code}."


def lost_deliveries_resend(*, older_than: timedelta = timedelta(minutes=15)) -> int:
    """Send again the deliveries whose task was lost (a broker restarted without its queue): due
    for a while and still pending. A task that was only late finds its attempt taken and stops."""
    cutoff = timezone.now() - older_than
    lost = WebhookDelivery.objects.filter(status=Status.PENDING).filter(
        models.Q(next_attempt_at__lt=cutoff) | models.Q(attempts=0, created_at__lt=cutoff)
    )
    count = 0
    for delivery_id, attempts in lost.values_list("id", "attempts"):
        _send_after_commit(delivery_id, attempts)
        count += 1
    return count
