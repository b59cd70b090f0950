"""The REST API kit every app's `api` module builds on: token auth (`auth`), base viewsets and mixins
(`base`: Nexus scope, keyset pages, `updated_since`, tombstone lists, strict query parameters), the
error format (`errors`), ETag and If-Match (`etag`), shared serializer fields (`fields`),
Idempotency-Key (`idempotency`), OPTIONS (`metadata`), keyset pagination (`pagination`), the JSON
parser (`parsers`), the one permission scheme (`permissions`, rules registered through
`nexus_site.extensions`) and the OpenAPI helpers (`schema`).

It sits beside the domain apps, not inside one: `backlog`, `flow`, `events` and `integration` each own
their `api` module and URL patterns, which `nexus_site.urls` mounts under `/api/v1/`.
"""
