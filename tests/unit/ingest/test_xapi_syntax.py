"""The version rule of a statements request and the form of the Alternate Request Syntax."""

from __future__ import annotations

import base64

import orjson
import pytest
from aiohttp import web

from teampulse.ingest.credentials import Credentials
from teampulse.ingest.xapi_syntax import answered_version, form_fields, statement_version

CREDENTIALS = Credentials.parse("ralph:r4lph, lms:secret")
RALPH = "Basic " + base64.b64encode(b"ralph:r4lph").decode()


def refusal(answer: object) -> dict:
    assert isinstance(answer, web.Response), answer
    assert answer.status == 400
    assert answer.body is not None
    return orjson.loads(bytes(answer.body))  # type: ignore[arg-type]


@pytest.mark.parametrize("asked", ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"])
def test_the_versions_xapi_defines_are_read_as_asked(asked: str):
    assert statement_version(asked, None, CREDENTIALS, {}) == asked


@pytest.mark.parametrize("asked", [None, "0.95", "1.1.0", "2.0", "2.0.1", "3.0.0", "1.0.3 "])
def test_any_other_version_or_none_is_400_naming_the_header(asked: str | None):
    body = refusal(statement_version(asked, None, CREDENTIALS, {}))
    assert body == {
        "error": "version",
        "detail": f"X-Experience-API-Version must be 1.0.x or 2.0.0, got {asked!r}",
    }


def test_only_a_named_basic_user_may_omit_the_version():
    assumed = {"ralph": "1.0.3"}
    assert statement_version(None, RALPH, CREDENTIALS, assumed) == "1.0.3"
    lms = "Basic " + base64.b64encode(b"lms:secret").decode()
    assert refusal(statement_version(None, lms, CREDENTIALS, assumed))["error"] == "version"


@pytest.mark.parametrize(
    ("asked", "answered"),
    [("1.0.0", "1.0.3"), ("1.0.3", "1.0.3"), ("2.0.0", "2.0.0"), ("", "1.0.3")],
)
def test_the_answer_carries_the_spoken_version_of_the_asked_major_version(
    asked: str, answered: str
):
    assert answered_version(asked) == answered


def test_the_alternate_form_is_read_with_field_names_of_any_case():
    form = form_fields(b"Authorization=Basic+x&X-Experience-API-Version=1.0.3&content=%7B%7D")
    assert form == {
        "authorization": "Basic x",
        "x-experience-api-version": "1.0.3",
        "content": "{}",
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"verb=x", "unknown form field 'verb'"),
        (b"content=1&Content=2", "form field 'Content' is sent twice"),
        (b"content=%ff", "the form is not URL-encoded UTF-8"),
    ],
)
def test_a_form_the_syntax_does_not_define_is_400(body: bytes, detail: str):
    assert refusal(form_fields(body)) == {"error": "alternate_syntax", "detail": detail}
