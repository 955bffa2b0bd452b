"""The Microsoft Graph subscription for Teams channel messages, as values (pure).

`teampulse msteams-subscribe` (teampulse.ingest.msteams_subscribe) sends these bodies to
`POST /subscriptions` (create) and `PATCH /subscriptions/{id}` (renew). A subscription for
chatMessage with resource data lives at most an hour, so it is renewed before it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teampulse.contract.timestamps import format_rfc3339

__all__ = ["SubscriptionSpec", "create_body", "existing_subscription", "expiration", "renew_body"]

NOTIFICATIONS_PATH = "/msteams/notifications"
LIFECYCLE_PATH = "/msteams/lifecycle"
CHANGE_TYPES = "created,updated,deleted"


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    entra_tenant: str  # the Entra (Azure AD) tenant the subscription lives in
    resource: str  # e.g. teams/{team-id}/channels/{channel-id}/messages
    public_url: str  # https base URL of the ingest endpoint
    client_state: str
    certificate_b64: str  # base64 of the DER certificate whose key decrypts notifications
    certificate_id: str
    minutes: int

    @property
    def notification_url(self) -> str:
        return self.public_url.rstrip("/") + NOTIFICATIONS_PATH

    @property
    def lifecycle_url(self) -> str:
        return self.public_url.rstrip("/") + LIFECYCLE_PATH


def expiration(now: float, minutes: int) -> str:
    return format_rfc3339(now + minutes * 60)


def create_body(spec: SubscriptionSpec, now: float) -> dict[str, Any]:
    return {
        "changeType": CHANGE_TYPES,
        "notificationUrl": spec.notification_url,
        "lifecycleNotificationUrl": spec.lifecycle_url,
        "resource": spec.resource,
        "includeResourceData": True,
        "encryptionCertificate": spec.certificate_b64,
        "encryptionCertificateId": spec.certificate_id,
        "expirationDateTime": expiration(now, spec.minutes),
        "clientState": spec.client_state,
    }


def renew_body(spec: SubscriptionSpec, now: float) -> dict[str, Any]:
    return {"expirationDateTime": expiration(now, spec.minutes)}


def existing_subscription(listed: Any, spec: SubscriptionSpec) -> str | None:
    """The id of the subscription `GET /subscriptions` lists for this resource and URL."""
    items = listed.get("value") if isinstance(listed, dict) else None
    for item in items or ():
        if (
            isinstance(item, dict)
            and item.get("resource") == spec.resource
            and item.get("notificationUrl") == spec.notification_url
            and isinstance(item.get("id"), str)
        ):
            return str(item["id"])
    return None
