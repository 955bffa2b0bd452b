"""Why a platform's signed request is refused (HTTP 401), as stable codes for the answer."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SignatureProblem"]


class SignatureProblem(StrEnum):
    MISSING = "missing_signature"  # no signature (or timestamp) header at all
    STALE = "stale_timestamp"  # signed too long ago, or in the future: a replay
    BAD = "bad_signature"  # the signature does not match the body and the secret
