"""What templates say about a job; the words come from exports.progress so every page, the
history and the email agree."""

from django import template

from exports import progress

register = template.Library()


@register.filter
def job_title(job) -> str:
    return progress.job_title(job)


@register.filter
def outcome(job) -> progress.Outcome:
    return progress.job_outcome(job)


@register.filter
def size_estimate(job) -> str:
    return progress.size_estimate_text(job)
