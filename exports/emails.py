"""The emails the site sends: each a subject, a text body and an HTML body in templates/emails/."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def email_send(name: str, context: dict, *, to: str) -> None:
    """templates/emails/<name>-{subject,body-text,body-html}.html, to one person."""
    subject = render_to_string(f"emails/{name}-subject.html", context).strip()
    text = render_to_string(f"emails/{name}-body-text.html", context)
    html = render_to_string(f"emails/{name}-body-html.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    message.send()
