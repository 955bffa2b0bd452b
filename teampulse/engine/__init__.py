"""The stream-processing runtime: per-partition state with its log, snapshots and restore.

It knows nothing of the product (no gauges, no event contract): a stage hands it states, the
functions that replay and serialise them, and topic names.
"""
