"""Kafka edges: the Faust app, its agents and the HTTP ingestion endpoint."""
