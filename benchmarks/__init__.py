"""`make bench`: TeamPulse's throughput, latency and memory on the real local stack.

The harness drives the product only from the outside (the `teampulse` CLI, Kafka, the
worker's `/metrics` and Redis), so the same figures can be taken before and after any change
to the worker's internals. `benchmarks/run.py` is the entry point; docs/benchmarks.md says
what each figure means.
"""
