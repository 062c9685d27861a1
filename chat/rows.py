"""Rows that every turn writes, in SQL built once per model and set of columns.

The ORM compiles each statement anew: about 0.3 ms of CPU for a one-row insert or update,
several times what the database then spends on it. A turn writes a dozen rows (its messages
and events, its reply's state at every flush and at its end), all on the one database thread
that also runs every other turn's start, so at 100 streams those compilations were what new
turns queued behind. These helpers build the SQL once and take every value from the model's
own fields, as the ORM's compilers do (``pre_save`` for ``auto_now``, ``get_db_prep_save`` for
JSON, datetimes and time zones), so a row reads back exactly as if the ORM had written it
(tests/chat/test_rows.py compares the stored rows on the running database).

What they do not do: send ``pre_save``/``post_save`` signals, validate, or take expressions
(``F()``). Use them only for models without save receivers (``Conversation``, ``Message``,
``Event``), inside the caller's transaction like any ORM call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

__all__ = ["insert", "insert_many", "update", "update_many"]

_M = TypeVar("_M", bound=Model)


def insert(model: type[_M], **values: Any) -> _M:
    """Create one row, as ``model.objects.create(**values)`` does, and return the instance."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    obj = model(**values)
    sql, fields, returning = _insert_sql(model, alias, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, _insert_params(obj, fields, connection))
        pk = cursor.fetchone()[0] if returning else connection.ops.last_insert_id(cursor, model._meta.db_table, "id")
    obj.pk = pk
    obj._state.adding, obj._state.db = False, alias
    return obj


def insert_many(model: type[Model], rows: Iterable[Mapping[str, Any]]) -> None:
    """Create rows as ``bulk_create`` does, in one ``executemany``; their ids are not read."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    sql, fields, _ = _insert_sql(model, alias, connection.vendor, returning=False)
    params = [_insert_params(model(**row), fields, connection) for row in rows]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def update(model: type[Model], pk: Any, values: Mapping[str, Any], *, where: Mapping[str, Any] | None = None) -> int:
    """``model.objects.filter(pk=pk, **where).update(**values)``: the number of rows changed.

    ``where`` takes plain equalities only. As with ``QuerySet.update``, ``auto_now`` fields
    change only when ``values`` names them.
    """
    alias = router.db_for_write(model)
    connection = connections[alias]
    where = where or {}
    sql, fields, conditions = _update_sql(model, alias, connection.vendor, tuple(values), tuple(where))
    params = [f.get_db_prep_save(value, connection) for f, value in zip(fields, values.values(), strict=True)]
    tested = (pk, *where.values())
    params += [f.get_db_prep_value(value, connection) for f, value in zip(conditions, tested, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def update_many(model: type[Model], rows: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
    """Update each ``(pk, values)`` row, in one ``executemany`` per set of columns."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for pk, values in rows:
        names = tuple(values)
        _, fields, (key,) = _update_sql(model, alias, connection.vendor, names, ())
        params = [f.get_db_prep_save(value, connection) for f, value in zip(fields, values.values(), strict=True)]
        params.append(key.get_db_prep_value(pk, connection))
        groups.setdefault(names, []).append(params)
    with connection.cursor() as cursor:
        for names, params_list in groups.items():
            sql, _, _ = _update_sql(model, alias, connection.vendor, names, ())
            cursor.executemany(sql, params_list)


def _insert_params(obj: Model, fields: Sequence[Field[Any, Any]], connection: BaseDatabaseWrapper) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]


@functools.cache
def _insert_sql(
    model: type[Model], alias: str, vendor: str, *, returning: bool = True
) -> tuple[str, tuple[Field[Any, Any], ...], bool]:
    """``INSERT`` of every concrete column but an automatic primary key (what the ORM inserts),
    with ``RETURNING`` the key where the database has it. ``vendor`` keys the cache only."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    pk = model._meta.pk
    assert pk is not None  # every model has one
    # As Model.save(): every local column but the automatic key and generated columns.
    fields = tuple(f for f in model._meta.local_concrete_fields if f is not model._meta.auto_field and not f.generated)
    for f in fields:
        _plain_placeholder(f)
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"
    returning = returning and connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(pk.column)}"
    return sql, fields, returning


@functools.cache
def _update_sql(
    model: type[Model], alias: str, vendor: str, names: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, tuple[Field[Any, Any], ...], tuple[Field[Any, Any], ...]]:
    """``UPDATE ... SET names WHERE pk AND where``; the fields set, then the primary key and
    the ``where`` fields."""
    quote = connections[alias].ops.quote_name
    fields = tuple(_plain_placeholder(_field(model, name)) for name in names)
    pk = model._meta.pk
    assert pk is not None  # every model has one
    conditions = (pk, *(_field(model, name) for name in where))
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    tests = " AND ".join(f"{quote(f.column)} = %s" for f in conditions)
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {tests}", fields, conditions


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _plain_placeholder(field: Field[Any, Any]) -> Field[Any, Any]:
    """Fields whose SQL placeholder is not ``%s`` (e.g. PostGIS geometries) are not for these
    helpers: refuse them when the statement is built rather than store something else."""
    if hasattr(field, "get_placeholder"):
        raise ValueError(f"{field} needs its own placeholder: write it through the ORM")
    return field
