"""Where records enter: the xAPI/events HTTP endpoint, the `produce` tool, the simulator feed."""
