"""Thin tasks: one webhook delivery attempt, and the next one scheduled when it did not land."""

from celery import shared_task

from api import delivery, webhooks


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int, attempt: int) -> None:
    delay = webhooks.delivery_attempt(delivery_id, attempt)
    if delay is not None:
        webhooks.delivery_schedule_next(delivery_id, attempt + 1, delay)


@shared_task(acks_late=True)
def deliver_archive(delivery_id: int) -> None:
    delay = delivery.delivery_run(delivery_id)
    if delay is not None:
        delivery.delivery_schedule_retry(delivery_id, delay)


@shared_task
def resend_lost_deliveries() -> int:
    return webhooks.lost_deliveries_resend() + delivery.lost_deliveries_resend()
