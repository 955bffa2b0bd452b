"""The event contract: parse, validate, map and pseudonymise what producers send."""
