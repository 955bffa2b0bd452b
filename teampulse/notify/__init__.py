"""Alert notifications where L&D works: `teampulse notify` turns Alertmanager's webhook into
Microsoft Teams Workflows messages (Adaptive Cards); Slack and e-mail are Alertmanager's own
receivers, with the templates in deploy/alertmanager/templates/ (docs/operations.md)."""
