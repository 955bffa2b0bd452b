"""Text to seconds: RFC 3339 instants (canonical events), ISO 8601 instants and durations (xAPI).

Each parser returns None for text it does not accept, so callers turn that into a rejection
with their own reason code; nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "format_rfc3339",
    "iso8601_in_utc",
    "parse_iso8601_duration",
    "parse_iso8601_timestamp",
    "parse_rfc3339",
]

# RFC 3339 section 5.6 (the `T` may be `t` or, as its note allows, a space); an offset is
# mandatory: an instant without one is ambiguous and would land in the wrong hour bucket.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)

# ISO 8601 extended format as xAPI uses it: seconds and offset optional (no offset = UTC, the
# LRS's reading), offset as +hh, +hhmm or +hh:mm. Basic format (20260302T...) is refused.
_ISO8601 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})([.,][0-9]+)?)?"
    r"(?:Z|([+-])([0-9]{2})(?::?([0-9]{2}))?)?"
)

_NUMBER = r"([0-9]+(?:[.,][0-9]+)?)"
# ISO 8601:2004 4.4.3.2, the only form xAPI allows: PnYnMnDTnHnMnS, or weeks alone (PnW);
# weeks do not combine with the other units ("P4W1D" is not a duration).
_DURATION = re.compile(
    rf"P(?:{_NUMBER}W|(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?)"
)
# Calendar units have no fixed length; these are the conventional ones (docs/xapi.md).
_DURATION_UNIT_S = (7 * 86400, 365 * 86400, 30 * 86400, 86400, 3600, 60, 1)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_fromisoformat = dt.datetime.fromisoformat


def _epoch(
    year: str,
    month: str,
    day: str,
    hour: str,
    minute: str,
    second: str | None,
    fraction: str | None,
    sign: str | None,
    off_h: str | None,
    off_m: str | None,
) -> float | None:
    sec = int(second) if second else 0
    leap = 0
    if sec == 60:  # a leap second: 23:59:60 is one second after 23:59:59
        sec, leap = 59, 1
    try:
        instant = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), sec, tzinfo=dt.UTC
        )
    except ValueError:
        return None  # month 13, February 30, hour 25, ...
    seconds = (instant - _EPOCH).total_seconds() + leap
    if fraction:
        seconds += float("0." + fraction[1:])
    if sign:
        hours, minutes = int(off_h or 0), int(off_m or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = hours * 3600 + minutes * 60
        seconds += -offset if sign == "+" else offset
    return seconds


def _fast_rfc3339(text: str) -> float | None:
    """The common shape (`2026-03-02T09:15:00[.fff](Z|+hh:mm)`) through the C parser.

    The character checks keep out what `fromisoformat` accepts beyond RFC 3339 (week dates,
    basic format, comma fractions, no offset); anything else takes the regex path.
    """
    if (
        len(text) >= 20
        and text[4] == "-"
        and text[7] == "-"
        and text[10] in "Tt "
        and text[13] == ":"
        and text[16] == ":"
        and (text[19] in "Zz+-" or (text[19] == "." and text[20:21].isdigit()))
        and (text[-1] in "Zz" or (text[-6] in "+-" and text[-3] == ":"))
        and text.isascii()
    ):
        try:
            instant = _fromisoformat(text[:-1] + "Z" if text[-1] == "z" else text)
        except ValueError:
            return None
        if instant.tzinfo is not None:
            return instant.timestamp()
    return None


def parse_rfc3339(text: str) -> float | None:
    """'2026-03-02T09:15:00Z' -> epoch seconds; None when not RFC 3339 with an offset."""
    fast = _fast_rfc3339(text)
    if fast is not None:
        return fast
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    return _epoch(*match.groups()[:7], *match.groups()[7:])


def parse_iso8601_timestamp(text: str) -> float | None:
    """An xAPI timestamp -> epoch seconds; None when malformed or with the -00:00 offset
    that xAPI forbids ("unknown local offset")."""
    if text.endswith("-00:00"):
        return None
    fast = _fast_rfc3339(text)
    if fast is not None:
        return fast
    match = _ISO8601.fullmatch(text)
    if match is None:
        return None
    sign, off_h, off_m = match.group(8), match.group(9), match.group(10)
    if sign == "-" and int(off_h) == 0 and int(off_m or 0) == 0:
        return None
    return _epoch(*match.groups())


# The fraction of a second, kept as written: through a float it could lose or gain a digit.
_FRACTION = re.compile(r"(?<=:[0-9]{2})[.,]([0-9]+)")


def iso8601_in_utc(text: str) -> str | None:
    """An xAPI timestamp -> the same instant in UTC ('2026-03-02T10:30:00.250+01:00' ->
    '2026-03-02T09:30:00.250Z'), the fraction digits as sent; None when not a timestamp."""
    fraction = _FRACTION.search(text)
    whole = text if fraction is None else text[: fraction.start()] + text[fraction.end() :]
    if parse_iso8601_timestamp(text) is None:
        return None
    seconds = parse_iso8601_timestamp(whole)
    if seconds is None:
        return None
    try:
        instant = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None  # beyond year 9999 (or before year 1) once in UTC
    return (
        instant.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction.group(1) if fraction else "") + "Z"
    )


def parse_iso8601_duration(text: str) -> float | None:
    """'PT1H30M' -> 5400.0; None when not an ISO 8601 duration with at least one part."""
    match = _DURATION.fullmatch(text)
    if match is None or text.endswith("T"):
        return None
    seconds = 0.0
    found = False
    for part, unit in zip(match.groups(), _DURATION_UNIT_S, strict=True):
        if part is not None:
            seconds += float(part.replace(",", ".")) * unit
            found = True
    return seconds if found else None


def format_rfc3339(epoch_s: float, timespec: str = "milliseconds") -> str:
    """Epoch seconds -> RFC 3339 in UTC with a `Z` ('2026-03-02T12:00:00.000Z')."""
    instant = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
    return instant.isoformat(timespec=timespec).replace("+00:00", "Z")
