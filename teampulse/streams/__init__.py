"""The stream topology: the Faust app, its agents, per-partition state and its log, the roster
reader and pipeline health."""
