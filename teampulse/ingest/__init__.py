"""Where records enter: the xAPI/events HTTP endpoint and its connector routes (Slack, Teams,
Discourse, Caliper), the Graph subscription command, the `produce` tool, the simulator feed."""
