"""Mounts the connectors (Slack, Microsoft Teams, Discourse, Caliper) on the ingest app."""

from __future__ import annotations

from aiohttp import web

from teampulse.ingest import caliper, discourse, msteams, slack
from teampulse.ingest.connectors import ConnectorIntake

__all__ = ["add_connector_routes"]


def add_connector_routes(app: web.Application, intake: ConnectorIntake) -> frozenset[str]:
    """Adds the connector routes; returns the paths that ask no ingest credentials, since
    those platforms sign their requests themselves (the ingest credentials are for LRS
    clients and Caliper sensors)."""
    signed = (slack, msteams, discourse)
    for module in (*signed, caliper):
        module.add_routes(app, intake)
    return frozenset(path for module in signed for path in module.PATHS)
