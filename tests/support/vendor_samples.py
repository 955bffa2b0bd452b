"""Payloads as the vendors publish them, for the conformance tests (docs/connectors/).

Each file under tests/support/vendor/ is a sample copied from the vendor's own documentation
or example fixtures, byte for byte except where SOURCES says otherwise, so that a rule is
checked against what the vendor documents rather than against this project's idea of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["SOURCES", "vendor_sample"]

VENDOR_DIR = Path(__file__).parent / "vendor"

SOURCES = {
    "caliper/v1p2-caliperEnvelopeEventSingle.json": (
        "IMS Caliper 1.2 example fixture: github.com/IMSGlobal/caliper-spec, branch develop, "
        "fixtures/v1p2/caliperEnvelopeEventSingle.json"
    ),
    "caliper/v1p1-caliperEnvelopeEventSingle.json": (
        "IMS Caliper 1.1 example fixture: github.com/IMSGlobal/caliper-spec, branch develop, "
        "fixtures/v1p1/caliperEnvelopeEventSingle.json"
    ),
    **{
        f"cmi5/{name}.json": (
            "cmi5, github.com/AICC/CMI-5_Spec_Current, branch gh-pages, "
            f"samples/scenarios/01-typical-non_credit_session/{name}.json"
        )
        for name in ("01-launched_statement", "04-initialized_statement", "05-terminated_statement")
    },
    "slack/message.channels.json": (
        "Slack, docs.slack.dev/reference/events/message.channels, the example payload "
        "(one trailing comma removed, which makes the published text invalid JSON)"
    ),
    "slack/message_replied.json": (
        "Slack, docs.slack.dev/reference/events/message/message_replied, the example payload "
        "(one trailing comma removed, which makes the published text invalid JSON)"
    ),
    "slack/reaction_added.json": (
        "Slack, docs.slack.dev/reference/events/reaction_added, the example payload "
        "(one trailing comma removed, which makes the published text invalid JSON)"
    ),
    "slack/app_rate_limited.json": (
        "Slack, docs.slack.dev/reference/events/app_rate_limited, the example payload"
    ),
    "msgraph/change-notification.json": (
        "Microsoft Graph, learn.microsoft.com/graph/change-notifications-delivery-webhooks, "
        "'Change notification example'"
    ),
    "msgraph/chatmessage-with-resource-data.json": (
        "Microsoft Graph, learn.microsoft.com/graph/change-notifications-with-resource-data, "
        "'Example: decrypting a notification with encrypted resource data' (its comment line "
        "removed; the placeholders of encryptedContent are what the tests replace)"
    ),
}


def vendor_sample(name: str) -> Any:
    """A fresh copy of the sample `name` (a key of SOURCES)."""
    if name not in SOURCES:
        raise KeyError(f"{name}: not a vendor sample with a named source")
    return orjson.loads((VENDOR_DIR / name).read_bytes())
