"""What `OPTIONS` answers on the API: the view's name, description and media types, and its `Allow`
header. The request and response bodies are documented in the OpenAPI document (`/api/schema/`).

DRF's `SimpleMetadata` also describes the form of each write (`actions`) by calling the view's
`get_object()`, which a route without an `{id}` (`items/by-external-id/{external_id}/`) cannot answer:
a 500. The OpenAPI document is the one description of the bodies, so `actions` is left out.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class Metadata(SimpleMetadata):
    """`OPTIONS`: `{"name", "description", "renders", "parses"}`, never per-row introspection."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
