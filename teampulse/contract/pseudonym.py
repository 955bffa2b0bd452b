"""Person ids become pseudonyms at the first step: a keyed hash, the same from every source.

A raw e-mail or name must never reach Kafka state, Redis or Prometheus (BRIEF section 4), so
every stage after ingestion sees only `Pseudonymiser.person(...)`.

One person, one pseudonym, whatever the source says:
* an e-mail (`jane@example.com`, `mailto:Jane@Example.com`, an xAPI `mbox`) is normalised
  (no `mailto:`, lowercase) and turned into the identity `sha1:` + sha1hex("mailto:" + email)
  before it is keyed, which is exactly what an xAPI `mbox_sha1sum` of the same address is;
  so a platform that only sends `mbox_sha1sum` still lands on the same person;
* an xAPI account is the identity `account:{homePage}|{name}`, an OpenID `openid:{url}`;
* any other id (an employee number) is its own identity, used as is.

The identity is then keyed with HMAC-SHA256 (secret: TEAMPULSE_PSEUDONYM_SECRET) so that,
unlike a bare `mbox_sha1sum`, the pseudonym cannot be reversed with a list of e-mails.

A connector that keys a person at the door (teampulse.connectors) writes `pseudonym:<hex>`;
that is already a pseudonym and is kept as is, so the pipeline lands on the same person as
a roster record naming the raw identity (both sides need the same secret). An xAPI actor
keyed at the door (a tenant's statement, docs/tenancy.md) is the account
`{homePage: PSEUDONYM_HOME_PAGE, name: <hex>}`, kept as is the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

__all__ = [
    "PSEUDONYM_HOME_PAGE",
    "PSEUDONYM_PREFIX",
    "Pseudonymiser",
    "email_identity",
    "identity_of",
]

PSEUDONYM_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are out of reach for any company
PSEUDONYM_CACHE_SIZE = 100_000  # distinct people remembered; the hot path repeats actors
PSEUDONYM_PREFIX = "pseudonym:"
PSEUDONYM_HOME_PAGE = "urn:teampulse:pseudonym"  # an xAPI account whose name is a pseudonym
_HEX = frozenset("0123456789abcdef")


def _is_email(raw: str) -> bool:
    # Deliberately loose: one '@' with something on each side and no blanks. An employee id
    # never contains '@'; a malformed address is still better hashed as an e-mail.
    at = raw.find("@")
    return 0 < at < len(raw) - 1 and raw.count("@") == 1 and " " not in raw


def email_identity(email: str) -> str:
    """`sha1:` + sha1hex("mailto:" + normalised email): the xAPI mbox_sha1sum of the address."""
    address = email.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    text = "mailto:" + address.lower()
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return "sha1:" + digest


def identity_of(raw_id: str) -> str:
    """The normalised identity of a raw person id, before keying."""
    text = raw_id.strip()
    if text[:7].lower() == "mailto:":
        return email_identity(text)
    if text[:5].lower() == "sha1:":
        return "sha1:" + text[5:].lower()
    if text.startswith(("account:", "openid:")):
        return text  # already an identity (an account name may well contain '@')
    if _is_email(text):
        return email_identity(text)
    return text


class Pseudonymiser:
    def __init__(self, secret: str, cache_size: int = PSEUDONYM_CACHE_SIZE) -> None:
        if not secret:
            raise ValueError("the pseudonym secret must not be empty")
        self._key = secret.encode("utf-8")
        # Bounded LRU keyed by the raw id as received: a hit skips normalising and hashing.
        self._cached = lru_cache(maxsize=cache_size)(self._keyed_hash)

    def _keyed_hash(self, raw_id: str) -> str:
        keyed = raw_id[len(PSEUDONYM_PREFIX) :] if raw_id.startswith(PSEUDONYM_PREFIX) else ""
        if len(keyed) == PSEUDONYM_HEX_CHARS and set(keyed) <= _HEX:
            return keyed
        # surrogatepass: a lone surrogate (which Python's json, unlike orjson, lets through)
        # is hashed like any other text instead of raising.
        identity = identity_of(raw_id).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, identity, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def person(self, raw_id: str) -> str:
        """Pseudonym of a person id from a canonical event or a roster record."""
        return self._cached(raw_id)

    def xapi_actor(self, actor: dict[str, object]) -> str:
        """Pseudonym of an xAPI Agent (or identified Group) by its inverse functional identifier.

        The statement must have passed `XapiMapper.check`: exactly one IFI is present.
        Raises ValueError when the actor has no usable identifier.
        """
        mbox = actor.get("mbox")
        if isinstance(mbox, str):
            return self.person(mbox if mbox[:7].lower() == "mailto:" else "mailto:" + mbox)
        sha1 = actor.get("mbox_sha1sum")
        if isinstance(sha1, str):
            return self.person("sha1:" + sha1)
        account = actor.get("account")
        if isinstance(account, dict):
            if account.get("homePage") == PSEUDONYM_HOME_PAGE:
                return self.person(f"{PSEUDONYM_PREFIX}{account.get('name')}")
            return self.person(f"account:{account.get('homePage')}|{account.get('name')}")
        openid = actor.get("openid")
        if isinstance(openid, str):
            return self.person("openid:" + openid)
        raise ValueError("actor has no inverse functional identifier")
