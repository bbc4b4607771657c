"""What happens outside the site when an export ends: webhooks, and copies to the user's storage."""

from api.delivery import deliveries_queue
from api.webhooks import job_events_fire


def job_ended(job) -> None:
    """Called once a job has ended (exports.notify). Both are safe to call again for the same end."""
    job_events_fire(job)
    deliveries_queue(job)
