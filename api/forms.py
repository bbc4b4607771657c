from datetime import timedelta

from django import forms
from django.utils import timezone

from api.models import ApiToken, Destination, WebhookEndpoint

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


class DestinationChoiceForm(forms.Form):
    """When a destination is used, and what its copies are encrypted to."""

    mode = forms.ChoiceField(
        choices=Destination.Mode.choices,
        initial=Destination.Mode.EVERY,
        required=False,  # left out: every export, as before there was a choice
        widget=forms.RadioSelect,
        label="Send it",
        help_text="The export and schedule forms list every destination; this says whether it is ticked at first.",
    )
    age_recipient = forms.CharField(
        required=False,
        max_length=2000,
        label="Encrypt copies to this public key",
        help_text="Optional. An age public key (age1…) or an SSH public key — a public key only, no passphrase, so "
        "nothing secret is kept for it. The archive is encrypted as it is streamed there: this storage never "
        "holds it in clear. Decrypt with age -d -i your-key-file archive.zip.age.",
    )


class DestinationForm(DestinationChoiceForm):
    field_order = ["kind", "name", "endpoint_url", "region", "bucket", "prefix", "access_key", "secret_key",
                   "rclone_config", "mode", "age_recipient"]  # fmt: skip
    kind = forms.ChoiceField(choices=Destination.Kind.choices, label="Kind of storage")
    name = forms.CharField(max_length=100, label="Name", help_text="How pages name it, e.g. “nextcloud”.")
    endpoint_url = forms.CharField(
        max_length=500,
        required=False,
        label="Address",
        help_text="S3: the endpoint (empty for AWS), e.g. https://s3.eu-central-1.wasabisys.com. WebDAV: the "
        "folder's URL, e.g. https://cloud.example.com/remote.php/dav/files/alice/",
    )
    region = forms.CharField(max_length=64, required=False, label="Region (S3)")
    bucket = forms.CharField(max_length=255, required=False, label="Bucket (S3)")
    prefix = forms.CharField(
        max_length=500,
        required=False,
        label="Folder",
        help_text="e.g. Backups/star-export; for rclone the remote and folder, e.g. dropbox:Backups",
    )
    access_key = forms.CharField(max_length=255, required=False, label="Access key (S3) or user name (WebDAV)")
    secret_key = forms.CharField(
        max_length=500, required=False, label="Secret key (S3) or password (WebDAV)", widget=forms.PasswordInput
    )
    rclone_config = forms.CharField(
        required=False,
        max_length=20000,
        label="rclone config (rclone)",
        help_text="The output of rclone config show for the remote (and any it uses).",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )

    def destination_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        config = data.pop("rclone_config")
        if data["kind"] == Destination.Kind.RCLONE:
            data["secret_key"] = config
        return data
