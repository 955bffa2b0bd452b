"""The demo's stand-in for a Microsoft Teams channel: where `teampulse notify` posts its cards.

The demo points `teampulse notify` (Alertmanager's L&D webhook) at this inbox instead of a
real Workflows webhook, so a newcomer sees the message L&D would get: each card is kept, one
JSON line per message, in the stack's log folder, and its text handed to the demo's summary.
`card_lines` (pure) reads a Workflows message back into the lines a person would read.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

__all__ = ["card_lines", "make_inbox_app", "start_inbox"]

INBOX_PATH = "/teams"


def card_lines(message: Mapping[str, Any]) -> list[str]:
    """The text of a Workflows message's Adaptive Cards: each TextBlock, each fact as
    "title: value", each action as "title: url"; raises ValueError when it is not one."""
    attachments = message.get("attachments")
    if message.get("type") != "message" or not isinstance(attachments, list):
        raise ValueError("not a Workflows message: type 'message' with 'attachments' expected")
    lines: list[str] = []
    for attachment in attachments:
        card = attachment.get("content") if isinstance(attachment, Mapping) else None
        if not isinstance(card, Mapping) or card.get("type") != "AdaptiveCard":
            raise ValueError("an attachment is not an Adaptive Card")
        for element in card.get("body", []):
            if element.get("type") == "TextBlock":
                lines.append(str(element.get("text", "")))
            elif element.get("type") == "FactSet":
                lines += [f"{f.get('title')}: {f.get('value')}" for f in element.get("facts", [])]
        lines += [f"{a.get('title')}: {a.get('url')}" for a in card.get("actions", [])]
    return lines


def make_inbox_app(kept_in: Path, on_message: Callable[[list[str]], None]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        try:
            message = orjson.loads(await request.read())
            if not isinstance(message, dict):
                raise ValueError("the body is not a JSON object")
            lines = card_lines(message)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            return web.json_response({"error": "bad_message", "detail": str(exc)}, status=400)
        with kept_in.open("ab") as out:
            out.write(orjson.dumps(message) + b"\n")
        on_message(lines)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post(INBOX_PATH, receive)
    return app


async def start_inbox(
    listening: socket.socket, kept_in: Path, on_message: Callable[[list[str]], None]
) -> web.AppRunner:
    """Serve the inbox on an already bound socket (its port was handed to `notify` before
    the event loop ran); the caller cleans the runner up."""
    runner = web.AppRunner(make_inbox_app(kept_in, on_message), access_log=None)
    await runner.setup()
    await web.SockSite(runner, listening).start()
    return runner
