"""The audit trail's own failure: a record could not be written, so no answer may leave."""

from __future__ import annotations

from service.errors import ServiceUnavailable


class AuditUnavailable(ServiceUnavailable):
    """Raised when the audit record cannot be written: the answer must not leave (fail closed,
    503 by the app's ServiceUnavailable handler)."""

    def __init__(self, detail: str = "The audit trail could not be written; no answer was given."):
        super().__init__(detail)
