from datetime import timedelta

from django import forms
from django.utils import timezone

from api.models import ApiToken, WebhookEndpoint

EXPIRY_CHOICES = [("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="What the token is for, e.g. “nightly backup”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["read"], label="Scopes"
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90", label="Expires")

    def token_arguments(self) -> dict:
        days = self.cleaned_data.get("expires_in")
        return {
            "name": self.cleaned_data["name"],
            "scopes": self.cleaned_data["scopes"],
            "expires_at": timezone.now() + timedelta(days=int(days)) if days else None,
        }


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=2048, label="Address (URL)", widget=forms.URLInput)
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["export.succeeded", "export.failed"],
        label="Events",
    )


class DestinationForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="How the job page names it, e.g. “nas”.")
    endpoint_url = forms.CharField(
        max_length=500,
        required=False,
        label="Endpoint URL",
        help_text="Empty for AWS; e.g. https://s3.eu-central-1.wasabisys.com",
    )
    region = forms.CharField(max_length=64, required=False, label="Region")
    bucket = forms.CharField(max_length=255, label="Bucket")
    prefix = forms.CharField(
        max_length=500, required=False, label="Folder (prefix)", help_text="e.g. Backups/star-export"
    )
    access_key = forms.CharField(max_length=255, label="Access key")
    secret_key = forms.CharField(max_length=500, label="Secret key", widget=forms.PasswordInput)
