"""The OpenAPI description the worker serves names every route it registers, and no other,
and the gauges the catalogue defines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from teampulse.gauges.catalog import PLAIN, WINDOWED
from teampulse.sinks.read_api import openapi_document

PACKAGE = Path(__file__).resolve().parents[3] / "teampulse"
ROUTE_MODULES = (PACKAGE / "worker.py", PACKAGE / "sinks" / "read_api.py")


def registered_routes() -> set[str]:
    """Every path given to `app.page(...)` in the modules that register the worker's routes."""
    routes = set()
    for module in ROUTE_MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "page"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                routes.add(str(node.args[0].value))
    return routes


def test_the_description_has_exactly_the_routes_the_worker_registers() -> None:
    assert set(openapi_document()["paths"]) == registered_routes()


def test_the_description_names_the_catalogue_gauges() -> None:
    scope = openapi_document()["components"]["schemas"]["Scope"]["properties"]
    windowed = re.findall(r"[a-z_]+", scope["windowed"]["description"].split("Gauges:")[1])
    plain = re.findall(r"[a-z_]+", scope["plain"]["description"].split(":")[1])
    assert windowed == [gauge.name for gauge in WINDOWED]
    assert plain == [gauge.name for gauge in PLAIN]


def test_every_reference_in_the_description_resolves() -> None:
    document = openapi_document()
    text = repr(document)
    for ref in set(re.findall(r"#/components/(\w+)/(\w+)", text)):
        assert ref[1] in document["components"][ref[0]], ref
