"""The gauges: event-time state per team and the arithmetic of every gauge."""
