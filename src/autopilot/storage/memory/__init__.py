"""An in-memory store behind the same ports as the database (STYLE habit 7: fakes, not mocks).

:class:`~autopilot.storage.memory.store.InMemoryStore` is a unit-of-work factory: each
transaction works on a copy of the tables and replaces them when it commits, one transaction at a
time (as SQLite's single writer), so a rollback leaves nothing behind. It keeps the database's
rules that the services rely on — the outcome key of the execution log, one pending proposal per
rule, unique ids, the columns' scales — and refuses what breaks them with
:class:`~autopilot.services.ports.RefusedByDatabase`. The repository contract suite
(``tests/integration/test_repository_contract.py``) runs against it, SQLite and PostgreSQL alike.
"""
