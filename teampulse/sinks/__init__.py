"""The export stage: the exporter, the Sink contract, the Prometheus collector and the Redis
writer."""
