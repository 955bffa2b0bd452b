"""Export edges: the Prometheus collector and the Redis serving layer."""
