"""Domain errors raised by `backlog.services`. Views turn them into a 400 (or 403/409/412) with the message
and the field; they never become a 500."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. `message` is for a person; `field` names the input at fault, if any."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(DomainError):
    """The actor's role does not allow this action (HTTP 403)."""

    status_code = 403


class Conflict(DomainError):
    """The request conflicts with the data as it is (HTTP 409): e.g. deleting a Scrum Team or a column
    that the history of PBIs refers to. The message says why and what to do instead."""

    status_code = 409


class VersionConflict(DomainError):
    """The item changed since the client read it (`version` / `If-Match` mismatch; HTTP 409 or 412)."""

    status_code = 409

    def __init__(self, message: str, *, current_version: int, field: str | None = "version") -> None:
        super().__init__(message, field=field)
        self.current_version = current_version


class PreconditionFailed(VersionConflict):
    """`If-Match` (`expected_version`) named a version the item no longer has, or an item that does not
    exist (HTTP 412)."""

    status_code = 412


class WipLimitReached(DomainError):
    """A hard WIP limit of the Definition of Workflow would be exceeded by the move (HTTP 409)."""

    status_code = 409
