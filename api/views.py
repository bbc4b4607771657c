"""The site's pages for API tokens and webhooks (the API itself is in api/v1.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api import delivery, tokens, webhooks
from api.forms import ApiTokenForm, DestinationChoiceForm, DestinationForm, WebhookForm
from api.models import ApiToken, ArchiveDelivery, Destination, WebhookDelivery, WebhookEndpoint
from exports import selectors
from exports.encryption import key_file

DELIVERIES_SHOWN = 20


def shown_once(request, template: str, context: dict, status: int):
    """A page that may hold a secret shown this once: no cache may keep a copy."""
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                row, created = tokens.api_token_create(owner=request.user, **form.token_arguments())
            except tokens.TokenRequestError as exc:
                form.add_error(None, str(exc))
            else:
                # The token is in this answer only: it is not stored, so it cannot be shown again.
                status = 201
                form = ApiTokenForm()
    context = {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(owner=request.user),
    }
    return shown_once(request, "api/tokens.html", context, status)


@login_required
@require_POST
def token_revoke(request, token_id):
    if tokens.api_token_revoke(owner=request.user, token_id=token_id):
        messages.info(request, "The token was revoked; scripts using it now get 401.")
    return redirect("api-tokens")


@login_required
def webhook_list(request):
    form = WebhookForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                endpoint, secret = webhooks.endpoint_create(owner=request.user, **form.cleaned_data)
            except webhooks.WebhookRequestError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                created = {"endpoint": endpoint, "secret": secret}
                status = 201
                form = WebhookForm()
    endpoints = list(WebhookEndpoint.objects.filter(owner=request.user))
    for endpoint in endpoints:
        endpoint.recent = list(WebhookDelivery.objects.filter(endpoint=endpoint)[:DELIVERIES_SHOWN])
    context = {"form": form, "created": created, "endpoints": endpoints}
    return shown_once(request, "api/webhooks.html", context, status)


@login_required
@require_POST
def webhook_remove(request, endpoint_id):
    if webhooks.endpoint_delete(owner=request.user, endpoint_id=endpoint_id):
        messages.info(request, "The webhook was removed.")
    return redirect("webhooks")


@login_required
def destination_list(request):
    form = DestinationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                destination = delivery.destination_create(owner=request.user, **form.destination_arguments())
            except delivery.DestinationError as exc:
                field = exc.field
                if field == "secret_key" and form.cleaned_data["kind"] == Destination.Kind.RCLONE:
                    field = "rclone_config"  # the config is what rclone destinations keep as their secret
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                if destination.every_export:
                    messages.success(request, f"Finished exports will now be copied to {destination}.")
                else:
                    messages.success(request, f"Tick {destination} on an export or schedule to copy its archive there.")
                return redirect("destinations")
    destinations = list(Destination.objects.filter(owner=request.user))
    for destination in destinations:
        destination.choice_form = DestinationChoiceForm(
            initial={"mode": destination.mode, "age_recipient": destination.age_recipient},
            prefix=f"d{destination.id}",
        )
    context = {
        "form": form,
        "destinations": destinations,
        "recent": ArchiveDelivery.objects.filter(destination__owner=request.user).select_related(
            "destination", "job__platform"
        )[:DELIVERIES_SHOWN],
    }
    return render(request, "api/destinations.html", context, status=status)


@login_required
@require_POST
def destination_change(request, destination_id):
    form = DestinationChoiceForm(request.POST, prefix=f"d{destination_id}")
    if not form.is_valid():
        messages.error(request, "Choose when to send it.")
        return redirect("destinations")
    try:
        changed = delivery.destination_update(owner=request.user, destination_id=destination_id, **form.cleaned_data)
    except delivery.DestinationError as exc:
        messages.error(request, exc.message)
        return redirect("destinations")
    if changed is None:
        raise Http404
    messages.success(request, f"Saved: {changed.name}.")
    return redirect("destinations")


@login_required
@require_POST
def destination_remove(request, destination_id):
    if delivery.destination_delete(owner=request.user, destination_id=destination_id):
        messages.info(request, "The destination was removed.")
    return redirect("destinations")


def key_file_response(job):
    """The passphrase-protected key file of an archive encrypted with a passphrase; 404 otherwise."""
    data = key_file(job.options)
    if data is None:
        raise Http404("This export's archive is not encrypted with a passphrase.")
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{job.base_name}.key.age"'
    return response


@login_required
def archive_key(request, job_id):
    return key_file_response(selectors.job_for_owner(request.user, job_id))
