"""Statements with attachments: a `multipart/mixed` body whose first part is the statements
(JSON) and whose other parts are the attachments' raw content (xAPI, Attachments).
"""

from __future__ import annotations

import email.message

from aiohttp import web

from teampulse.contract.attachments import Part, split_parts
from teampulse.ingest.responses import error_response

__all__ = ["statements_and_parts"]


def _boundary(content_type: str) -> str | None:
    """The `boundary` parameter of a Content-Type header (quoted or not)."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def statements_and_parts(
    mime_type: str, content_type: str, body: bytes
) -> tuple[bytes, list[Part]] | web.Response:
    """The statements' JSON and the attachments' raw parts (none unless multipart/mixed);
    `mime_type` is the body's media type, `content_type` the whole header."""
    if not mime_type.startswith("multipart/"):
        return body, []
    if mime_type != "multipart/mixed":
        return error_response(400, "attachment", "statements with attachments are multipart/mixed")
    boundary = _boundary(content_type)
    if not boundary:
        return error_response(400, "attachment", "multipart/mixed needs a boundary parameter")
    parts = split_parts(body, boundary)
    if isinstance(parts, str):
        return error_response(400, "attachment", parts)
    if not parts or not parts[0].headers.get("content-type", "").startswith("application/json"):
        return error_response(400, "attachment", "the first part must be the statements (JSON)")
    return parts[0].content, parts[1:]
