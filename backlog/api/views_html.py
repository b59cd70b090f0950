"""HTML pages of the API: personal API tokens (create: shown once; revoke) and a Nexus's webhooks with
their delivery log (Product Owner). Thin: forms validate shapes, services do the work."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from backlog import selectors
from backlog.errors import DomainError
from backlog.models import Nexus
from backlog.models_api import DeliveryStatus, Webhook, WebhookDelivery
from backlog.services import sync, webhooks

DELIVERY_LOG_SIZE = 100


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “Jira sync on build-01”.")


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, assume_scheme="https", label="Payload URL")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = webhooks.webhook_event_types()  # those registered by now, later capabilities' too
        events: Any = self.fields["events"]
        events.choices = choices
        events.initial = [value for value, _label in choices]


def _add_domain_error(form: forms.Form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


#: Session keys that carry a new token or webhook secret from the POST to the page shown after its
#: redirect (once: the page pops it), so that reloading the page neither resubmits nor shows it again.
NEW_TOKEN, NEW_SECRET = "api_new_token", "api_new_webhook_secret"


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens: create one (shown once, after the redirect) and revoke."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _token, key = sync.token_create(user=request.user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
        except DomainError as exc:
            _add_domain_error(form, exc)
        else:
            request.session[NEW_TOKEN] = key
            return redirect("api-pages:tokens")
    new_key = request.session.pop(NEW_TOKEN, None)
    nexuses = [
        n
        for n in selectors.nexus_list_for_user(user=request.user)[:50]
        if selectors.can_order_backlog(user=request.user, nexus=n)
    ]
    context = {
        "form": form,
        "new_key": new_key,
        "tokens": request.user.api_tokens.all(),  # type: ignore[union-attr]
        "webhook_nexuses": nexuses,
    }
    return render(request, "backlog/api_tokens.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(request.user.api_tokens, pk=pk)  # type: ignore[union-attr]
    sync.token_revoke(token=token, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Token “{token.name}” is revoked: it no longer works.")
    return redirect("api-pages:tokens")


def _nexus_for_webhooks(request: HttpRequest, slug: str) -> Nexus:
    nexus = selectors.nexus_get_for_user(user=request.user, slug=slug)
    if not selectors.can_order_backlog(user=request.user, nexus=nexus):
        raise PermissionDenied("Only the Product Owner manages the Nexus's webhooks.")
    return nexus


@login_required
@require_http_methods(["GET", "POST"])
def webhooks_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The Nexus's webhooks with delivery counts; register one (its secret shown once)."""
    nexus = _nexus_for_webhooks(request, slug)
    form = WebhookForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action", "create")
        hook: Webhook | None = None
        if action == "create":
            if form.is_valid():
                try:
                    hook = webhooks.webhook_create(nexus=nexus, actor=request.user, **form.cleaned_data)  # type: ignore[arg-type]
                except DomainError as exc:
                    _add_domain_error(form, exc)
        else:
            hook = get_object_or_404(Webhook, nexus=nexus, pk=request.POST.get("webhook") or 0)
            if action == "toggle":
                webhooks.webhook_update(webhook=hook, is_active=not hook.is_active)
                messages.success(request, f"{hook.url} is {'active' if hook.is_active else 'paused'}.")
            elif action == "delete":
                webhooks.webhook_delete(webhook=hook)
                messages.success(request, f"{hook.url} is deleted, with its delivery log.")
            elif action == "rotate":
                webhooks.webhook_rotate_secret(webhook=hook)
        if hook is not None:
            if action in ("create", "rotate"):
                request.session[NEW_SECRET] = {"url": hook.url, "secret": hook.secret}
            return redirect("api-pages:webhooks", slug=nexus.slug)
    created = request.session.pop(NEW_SECRET, None)
    hooks = Webhook.objects.filter(nexus=nexus).annotate(
        n_ok=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SUCCEEDED)),
        n_pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        n_failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
    )
    context = {"nexus": nexus, "hooks": hooks, "form": form, "created": created}
    return render(request, "backlog/api_webhooks.html", context)


@login_required
@require_http_methods(["GET"])
def webhook_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A webhook's delivery log, newest first (`?status=failed` for the failures only)."""
    nexus = _nexus_for_webhooks(request, slug)
    hook = get_object_or_404(Webhook, nexus=nexus, pk=pk)
    deliveries = WebhookDelivery.objects.filter(webhook=hook)
    shown = request.GET.get("status")
    if shown in DeliveryStatus.values:
        deliveries = deliveries.filter(status=shown)
    context = {
        "nexus": nexus,
        "hook": hook,
        "deliveries": deliveries[:DELIVERY_LOG_SIZE],
        "shown": shown if shown in DeliveryStatus.values else "",
        "statuses": DeliveryStatus.choices,
        "log_size": DELIVERY_LOG_SIZE,
    }
    return render(request, "backlog/api_webhook_detail.html", context)


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, slug: str, pk: int, delivery_pk: int) -> HttpResponse:
    nexus = _nexus_for_webhooks(request, slug)
    delivery = get_object_or_404(WebhookDelivery, webhook__nexus=nexus, webhook_id=pk, pk=delivery_pk)
    webhooks.webhook_redeliver(delivery=delivery)
    messages.success(request, f"Delivery {delivery.pk} is queued again.")
    return redirect("api-pages:webhook-detail", slug=nexus.slug, pk=pk)
