"""Where the audit records go, one back end per module: generic.py (inside any
`Database.write_transaction()`, both databases), sqlite.py (one guarded INSERT per group under the
SQLite file's writer lock), postgres.py (two round trips per group on libpq). The group commit
(service/audit/group_commit.py) picks the session; `service.audit.writer.append_events` the store."""
