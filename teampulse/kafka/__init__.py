"""Kafka plumbing every edge shares: topic creation, acknowledged sends, reading to the end."""
