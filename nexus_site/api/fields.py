"""Strict serializer fields and the strict serializer base: JSON types are taken as the schema says.

DRF's fields are lenient (a string field takes 12, a boolean takes "yes", an id takes "7"); the API
is not: a value of the wrong JSON type answers 400 naming the field, as does a field the resource
does not accept (unknown or read-only). References to other rows (`parent`, `column`, `teams`...)
are ids within the request's Nexus; an id of another Nexus is "does not exist".
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.settings import api_settings

MAX_INT = 2**31 - 1


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class StrictCharField(serializers.CharField):
    """A JSON string (never a number or boolean); no NUL characters, no unpaired surrogates."""

    default_error_messages = {
        "invalid": "Must be a string.",
        "surrogates": "Must be valid UTF-8 text (no unpaired surrogates).",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if _has_surrogates(data):
            self.fail("surrogates")
        return str(super().to_internal_value(data))


#: What the document promises a webhook URL looks like: http(s), a host name with a top-level domain, an
#: optional port and path. A subset of what `backlog.services.webhooks.webhook_url_check` takes (Django's
#: `URLValidator`, which also takes IP addresses, `localhost`, queries...), so a client that follows it
#: is never refused for the URL's shape.
HTTP_URL_PATTERN = (
    r"^https?://[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}"
    r"(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~-]*)*$"
)


@extend_schema_field({"type": "string", "format": "uri", "pattern": HTTP_URL_PATTERN, "maxLength": 500})
class HttpUrlField(StrictCharField):
    """An http:// or https:// URL (checked by the service, which names the field when it refuses)."""


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA time zone names this server knows (`zoneinfo.available_timezones()`), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


@extend_schema_field({"type": "string", "enum": list(time_zone_names()), "example": "Europe/Berlin"})
class TimeZoneField(StrictCharField):
    """An IANA time zone name (`Europe/Berlin`); the document lists those the server knows as an enum,
    the service refuses any other (400 naming the field)."""


class StrictBooleanField(serializers.BooleanField):
    """A JSON `true` or `false` only."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a string, float or boolean), by default 0..2^31-1."""

    default_error_messages = {"invalid": "Must be an integer."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_INT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictDecimalField(serializers.DecimalField):
    """A JSON number (not a string or boolean), checked against digits and decimal places."""

    default_error_messages = {"invalid": "Must be a number."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, int | float) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """One of the listed strings."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class NexusRefField(serializers.PrimaryKeyRelatedField):
    """The id (a JSON integer) of a row of the request's Nexus. `scope(nexus)` gives the queryset;
    an id of another Nexus does not exist here."""

    default_error_messages = {
        "incorrect_type": "Must be an integer id.",
        "does_not_exist": "No {model} with id {pk_value} in this Nexus.",
    }

    def __init__(self, *, model: type[Model], scope: str, alive: bool = False, **kwargs: Any) -> None:
        self.model, self.scope, self.alive = model, scope, alive
        super().__init__(queryset=model._default_manager.all(), **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        view = self.context.get("view")
        if view is None or getattr(view, "swagger_fake_view", False):
            return self.model._default_manager.none()
        qs = self.model._default_manager.filter(**{self.scope: view.nexus})
        return qs.filter(deleted_at__isnull=True) if self.alive else qs

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return self.get_queryset().get(pk=data)
        except ObjectDoesNotExist:
            self.fail("does_not_exist", model=self.model._meta.verbose_name, pk_value=data)


class StrictSerializer(serializers.Serializer):
    """A serializer that takes a JSON object with only its writable fields: anything else (an unknown
    field, a read-only one, a body that is not an object) answers 400 naming it."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                type(data), "a number"
            )
            raise ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY: [
                        ErrorDetail(f"Expected a JSON object, got {kind}.", "invalid")
                    ]
                }
            )
        unknown = {}
        for key in data:
            field = self.fields.get(key)
            if field is None:
                unknown[str(key)] = [ErrorDetail("Unknown field.", code="unknown_field")]
            elif field.read_only:
                unknown[str(key)] = [ErrorDetail("This field is read-only.", code="read_only")]
        if unknown:
            raise ValidationError(unknown)
        return super().to_internal_value(data)
