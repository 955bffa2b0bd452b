"""What the edge does to a tenant's record before it reaches Kafka: person ids keyed with the
tenant's own pseudonym secret (pure).

With tenants configured, no raw person id of a tenant is written anywhere: the canonical
`actor` becomes `pseudonym:<hex>` and an xAPI actor becomes the account
`{homePage: PSEUDONYM_HOME_PAGE, name: <hex>}` (its display name dropped). The pipeline keeps
both as they are, so the worker needs no tenant's key, and destroying a tenant's key leaves
nothing on Kafka that leads back to a person (crypto-shredding). Only valid records are
rewritten: the validators see, and refuse, what was sent.
"""

from __future__ import annotations

from typing import Any

from teampulse.contract.pseudonym import PSEUDONYM_HOME_PAGE, PSEUDONYM_PREFIX, Pseudonymiser

__all__ = ["keyed_event", "keyed_statement"]


def keyed_event(record: dict[str, Any], pseudonymiser: Pseudonymiser) -> dict[str, Any]:
    """A valid canonical event with its `actor` keyed."""
    return {**record, "actor": PSEUDONYM_PREFIX + pseudonymiser.person(record["actor"])}


def keyed_statement(statement: dict[str, Any], pseudonymiser: Pseudonymiser) -> dict[str, Any]:
    """A valid xAPI statement whose Agent actor is replaced by its keyed account. A Group
    actor names no person and is left for the pipeline to refuse as `unmappable`."""
    actor = statement.get("actor")
    if type(actor) is not dict or actor.get("objectType") == "Group":
        return statement
    keyed = {
        "objectType": "Agent",
        "account": {"homePage": PSEUDONYM_HOME_PAGE, "name": pseudonymiser.xapi_actor(actor)},
    }
    return {**statement, "actor": keyed}
