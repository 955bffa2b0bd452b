"""Typed reads of parsed JSON that never raise, whatever JSON type sits where.

Every value the contract looks at comes from outside, so a string may turn out to be an
object, a list, a number, `null`, a 10 MB string or 1,000 levels of nesting. Comparisons such
as `value in FROZENSET` raise TypeError on an unhashable dict or list, and orjson refuses to
write what it read (nesting over 255 levels, integers beyond 64 bits, lone surrogates); these
readers turn each of those into "not what was expected" (None or False), which the callers
turn into a rejection with a reason code.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

__all__ = ["encoded", "member_of", "object_at", "text", "text_at"]


def text(value: object) -> str | None:
    """The value when it is a string, else None."""
    return value if type(value) is str else None


def member_of(value: object, choices: Collection[str]) -> bool:
    """True when the value is a string among `choices` (False for any other JSON type,
    hashable or not)."""
    return type(value) is str and value in choices


def object_at(parent: object, key: str) -> dict[str, Any] | None:
    """`parent[key]` when the parent is an object and that member is an object, else None."""
    if type(parent) is not dict:
        return None
    child = parent.get(key)
    return child if type(child) is dict else None


def text_at(parent: object, key: str) -> str | None:
    """`parent[key]` when the parent is an object and that member is a string, else None."""
    if type(parent) is not dict:
        return None
    return text(parent.get(key))


def encoded(value: object, *, sort_keys: bool = False) -> bytes | None:
    """The value as JSON bytes, or None when orjson cannot write it (nesting deeper than 255,
    an integer beyond 64 bits, a string with a lone surrogate)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
