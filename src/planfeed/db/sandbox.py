"""``planfeed sandbox reset``: replace an organisation's sandbox with a copy of its live data.

Generic over every tenant table: rows are copied in foreign-key order with new primary keys,
foreign keys are remapped, and public UUIDs are renewed (they are unique across environments).
Columns the database keeps itself (``KEPT_BY_DATABASE``) are left to it.
Credentials, tokens, jobs and the audit trail are not copied: they belong to one environment.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, insert, select, update

from planfeed.db.base import KEPT_BY_DATABASE, Base, Environment

NOT_COPIED = frozenset(
    {"api_keys", "access_tokens", "jobs", "job_payloads", "audit_events", "web_sessions"}
)


def _tenant_tables() -> list[Table]:
    return [
        table
        for table in Base.metadata.sorted_tables
        if "organisation_id" in table.c and "environment" in table.c
    ]


def reset_sandbox(connection: Connection, organisation_id: int) -> dict[str, int]:
    """Copy live into sandbox inside the caller's transaction; returns rows copied per table."""
    tables = _tenant_tables()
    sandbox = Environment.SANDBOX.value
    if connection.dialect.name == "postgresql":
        # The sandbox's plans first, as every item delete takes them (migration 0009): the
        # deletes below remove progress rows before items, and a sandbox batch job holds its
        # plans while it updates progress rows; locking them later would deadlock with it.
        plans = Base.metadata.tables["plans"]
        connection.execute(
            select(plans.c.id)
            .where(plans.c.organisation_id == organisation_id, plans.c.environment == sandbox)
            .order_by(plans.c.id)
            .with_for_update(key_share=True)
        )
    for table in reversed(tables):
        in_sandbox = and_(
            table.c.organisation_id == organisation_id, table.c.environment == sandbox
        )
        # A restricting self-reference (an item's parent) is checked row by row on SQLite, so
        # a parent deleted before its child would be refused: unlink them first.
        unlinked = {
            fk.parent.name: None
            for fk in table.foreign_keys
            if fk.column.table is table and fk.parent.nullable
        }
        if unlinked:
            connection.execute(update(table).where(in_sandbox).values(unlinked))
        connection.execute(delete(table).where(in_sandbox))
    id_maps: dict[str, dict[Any, Any]] = {}
    copied: dict[str, int] = {}
    for table in tables:
        if table.name in NOT_COPIED:
            continue
        id_maps[table.name] = mapping = {}
        rows = connection.execute(
            select(table)
            .where(
                table.c.organisation_id == organisation_id,
                table.c.environment == Environment.LIVE.value,
            )
            .order_by(*table.primary_key.columns)
        ).mappings()
        self_refs: list[tuple[Any, str, Any]] = []
        key = next(iter(table.primary_key.columns))
        pk = key.name
        # A one-to-one extension row (a plan item's progress) is keyed by its owner's id: the
        # key is remapped to the owner's new id below, like any other foreign key.
        extension = bool(key.foreign_keys)
        kept_by_database = [column.name for column in table.c if column.info.get(KEPT_BY_DATABASE)]
        count = 0
        for row in rows:
            values = dict(row)
            for name in kept_by_database:  # a plan's item count: counted as its items arrive
                del values[name]
            old_id = values[pk] if extension else values.pop(pk)
            values["environment"] = sandbox
            if "public_id" in values:
                values["public_id"] = str(uuid.uuid4())
            for fk in table.foreign_keys:
                column, target = fk.parent.name, fk.column.table.name
                if column == "organisation_id" or values.get(column) is None:
                    continue
                if not fk.column.primary_key:  # the scope half of an item key (item_key)
                    continue
                if target == table.name:
                    self_refs.append((old_id, column, values[column]))
                    values[column] = None
                elif target in id_maps:
                    values[column] = id_maps[target].get(values[column])
            new_id = connection.execute(insert(table).values(values).returning(table.c[pk]))
            mapping[old_id] = new_id.scalar_one()
            count += 1
        for old_id, column, old_target in self_refs:
            connection.execute(
                update(table)
                .where(table.c[pk] == mapping[old_id])
                .values({column: mapping.get(old_target)})
            )
        copied[table.name] = count
    return copied
