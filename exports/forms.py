"""The export form and the history filter.

The form only turns text into values; whether a request can be honoured (a format the platform
has, media it can give, a sensible date range) is decided by `jobs.export_job_create`, whose
`ExportRequestError` the view puts beside the field it names.
"""

import uuid

from django import forms
from django.core.validators import MaxValueValidator

from accounts.tokens import connection_state
from exports.conf import setting
from exports.jobs import FORMATS, MEDIA_KINDS
from exports.models import EVERYTHING, ExportJob, ExportSchedule
from platforms.models import Platform

FORMAT_LABELS = {"json": "JSON", "csv": "CSV (one row per record)"}
KIND_LABELS = {"image": "Images", "video": "Videos", "file": "Files"}


def media_label(platform: Platform) -> str:
    """ "Include media files (images and videos)", naming the kinds this platform has."""
    words = [KIND_LABELS[kind].lower() for kind in platform.media_kinds]
    if words == ["files"]:
        shown = ", ".join(platform.file_formats[:4])
        return f"Include files ({shown}{', …' if len(platform.file_formats) > 4 else ''})"
    listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"Include media files ({listed})"


class FixedCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes where some choices are always part of the answer (the JSON file): shown ticked
    and greyed out, so nobody unticks what the archive holds anyway."""

    def __init__(self, *args, fixed: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed = fixed

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.fixed:
            option["selected"] = True
            option["attrs"] = {**option["attrs"], "checked": True, "disabled": True}
        return option


class ExportForm(forms.Form):
    platform = forms.CharField(widget=forms.HiddenInput)
    # One per form shown: a second submit of the same form (a double click) finds the job the
    # first one started instead of starting another.
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    formats = forms.MultipleChoiceField(
        choices=[(f, FORMAT_LABELS[f]) for f in FORMATS],
        widget=FixedCheckboxes(fixed=("json",)),
        required=False,
        label="Metadata formats",
        help_text="The JSON file is always in the archive.",
    )
    include_media = forms.BooleanField(required=False, label="Include media files (images and videos)")
    media_types = forms.MultipleChoiceField(
        choices=[(k, KIND_LABELS[k]) for k in MEDIA_KINDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Kinds of media",
        help_text="Leave all unticked to take every kind.",
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    only_new = forms.BooleanField(
        required=False,
        label="Only what is new since my last export",
        help_text="Pages your library already has are not fetched again and files you have are not "
        "downloaded again; the archive still holds your whole collection.",
    )
    max_records = forms.IntegerField(
        required=False,
        label="At most this many records",
        help_text="Empty for everything the platform gives.",
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
    )

    age_recipient = forms.CharField(
        required=False,
        max_length=2000,
        label="Encrypt the archive to this public key",
        help_text="Optional. An age public key (age1…, made with age-keygen) or an SSH public key. The archive is "
        "encrypted as it is written, so this server never stores it in clear; decrypt it with "
        "age -d -i your-key-file archive.zip.age.",
    )

    age_passphrase = forms.CharField(
        required=False,
        max_length=1000,
        strip=False,
        label="…or with a passphrase",
        help_text="Optional, instead of a key. It is not stored: you download a small key file with the archive, "
        "and age -d -i key-file archive.zip.age asks for the passphrase.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    destinations = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Also deliver the archive to",
        help_text="Your own storage. Ticked at first: the destinations set to receive every export.",
        error_messages={"invalid_choice": "You have no destination %(value)s."},
    )
    # Present when the checkboxes were shown: no box ticked then means "none", not "the usual ones".
    destinations_shown = forms.BooleanField(required=False, widget=forms.HiddenInput, initial=True)

    def __init__(self, *args, platform: Platform | None = None, repeat: bool = False, user=None, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "platform": platform.slug if platform else "",
                "formats": ["json"],
                "media_types": platform.media_kinds if platform else [],
                # On by default once there is an earlier export to build on.
                "only_new": repeat,
                # Media are what people export for, wherever the platform has them.
                "include_media": bool(platform and platform.supports_media),
                "request_key": uuid.uuid4().hex,
            },
        )
        super().__init__(*args, **kwargs)
        self.platform_obj = platform
        limit = setting("MAX_RECORDS_LIMIT")
        records = self.fields["max_records"]
        records.validators.append(
            MaxValueValidator(limit, f"Ask for at most {limit:,} records, or leave it empty for everything.")
        )
        records.widget.attrs["max"] = limit
        records.help_text = f"Empty for everything the platform gives; at most {limit:,}."
        if platform is not None and platform.media_kinds:
            self.fields["include_media"].label = media_label(platform)
        if platform is not None:
            # Offer only what this platform has; any other value still reaches the service, which
            # explains the refusal better than "not one of the available choices".
            self.fields["formats"].widget.choices = [
                (f, FORMAT_LABELS.get(f, f.upper())) for f in FORMATS if f in platform.export_formats
            ]
            self.fields["media_types"].widget.choices = [(k, KIND_LABELS[k]) for k in platform.media_kinds]
        destinations_offer(self, user)

    @property
    def shows_media(self) -> bool:
        return bool(self.platform_obj and self.platform_obj.supports_media)

    def export_arguments(self) -> dict:
        """The cleaned form as keyword arguments for `export_job_create`."""
        data = self.cleaned_data
        options = {
            "date_from": data["date_from"].isoformat() if data.get("date_from") else None,
            "date_to": data["date_to"].isoformat() if data.get("date_to") else None,
            "media_types": data.get("media_types") or [],
            "max_records": data.get("max_records"),
            "only_new": data.get("only_new") or None,
            "age_recipient": data.get("age_recipient") or None,
            "age_passphrase": data.get("age_passphrase") or None,
        }
        options = {key: value for key, value in options.items() if value not in (None, "", [])}
        if data.get("destinations_shown"):
            options["destinations"] = data.get("destinations") or []
        return {
            "request_key": data.get("request_key") or None,
            "platform_slug": data["platform"],
            "formats": data.get("formats") or None,
            "include_media": data.get("include_media", False),
            "options": options,
        }


def destinations_offer(form: forms.Form, user) -> None:
    """The user's own storage as checkboxes, those set to "every export" ticked at first."""
    mine = list(user.destinations.all()) if user is not None and user.is_authenticated else []
    form.fields["destinations"].choices = [(d.id, d.label) for d in mine]
    if not form.is_bound:
        form.initial.setdefault("destinations", [d.id for d in mine if d.every_export])
    form.shows_destinations = bool(mine)


class ExportFilterForm(forms.Form):
    platform = forms.ChoiceField(required=False, label="Platform")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *ExportJob.Status.choices])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].choices = [("", "Any platform")] + [
            (p.slug, p.display_name) for p in Platform.objects.all()
        ]


class ScheduleForm(forms.Form):
    platform_slug = forms.ChoiceField(label="Platform")
    frequency = forms.ChoiceField(label="How often", choices=ExportSchedule.Frequency.choices)
    include_media = forms.BooleanField(required=False, initial=True, label="Include media files")
    destinations = ExportForm.base_fields["destinations"]
    # Each run's archive is encrypted like a one-off export's: a passphrase becomes one key pair
    # when the schedule is saved, and every run's page links its key file.
    age_recipient = ExportForm.base_fields["age_recipient"]
    age_passphrase = ExportForm.base_fields["age_passphrase"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        destinations_offer(self, user)
        platforms = list(Platform.objects.filter(enabled=True))
        connected = [p for p in platforms if connection_state(user, p) == "connected"]
        # A schedule for a platform that is not connected could only fail: it is not offered.
        self.fields["platform_slug"].choices = [(p.slug, p.display_name) for p in connected]
        if connected:
            self.fields["platform_slug"].choices.append((EVERYTHING, "Everything (every connected platform)"))
        self.fields["platform_slug"].error_messages["invalid_choice"] = (
            "That platform is not connected; connect it first (a schedule for it could only fail)."
        )
        self.not_connected = [p for p in platforms if p not in connected]

    def schedule_arguments(self) -> dict:
        """The cleaned form as keyword arguments for `schedules.schedule_save`."""
        data = dict(self.cleaned_data)
        if not self.shows_destinations:
            data["destinations"] = None  # nothing was chosen: new destinations decide for themselves
        return data
