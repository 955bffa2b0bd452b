"""Tenants: which organisation a record belongs to, decided by the credential that sent it.

`config` reads and validates the tenants file (TEAMPULSE_TENANTS_FILE); `directory` answers
the edges' questions (which tenant holds this credential, this Slack workspace, this Entra
tenant, this forum) and names the Kafka header a record's tenant travels in; `source`
reloads the file when it changes. docs/tenancy.md describes the model.
"""
