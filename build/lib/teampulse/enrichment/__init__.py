"""Enrichment: the roster as a lookup, and the rule that gives an event its team."""
