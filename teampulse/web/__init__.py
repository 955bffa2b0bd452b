"""The L&D web app (`teampulse web`): Organisation, Initiatives, Team, Alerts and runbook
pages, read from the published figures only (docs/operations.md explains each page)."""
