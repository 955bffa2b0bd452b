"""TeamPulse: per-team engagement, conversation and adoption gauges from learning events."""

__version__ = "0.1.0"
