"""The table specs of ``tables.py`` as pyiceberg schemas: tradelake tables without Spark.

For writers that are not jobs: the report's test lakes and its benchmark history are
written with pyiceberg, with the schema, partitioning and format the jobs' tables have.
Spark's ``TIMESTAMP`` is Iceberg's ``timestamptz``, as Spark's Iceberg catalog maps it.
"""

from __future__ import annotations

import re
from typing import Any

from tradelake.tables import COMMON_PROPERTIES, TableSpec

_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$", re.IGNORECASE)
_ARRAY = re.compile(r"^ARRAY<(.+)>$", re.IGNORECASE)


def _primitive(ddl_type: str) -> Any:
    from pyiceberg import types

    simple = {
        "STRING": types.StringType(),
        "DATE": types.DateType(),
        "BIGINT": types.LongType(),
        "INT": types.IntegerType(),
        "DOUBLE": types.DoubleType(),
        "BOOLEAN": types.BooleanType(),
        "TIMESTAMP": types.TimestamptzType(),
    }
    if ddl_type.upper() in simple:
        return simple[ddl_type.upper()]
    decimal = _DECIMAL.match(ddl_type)
    if decimal:
        return types.DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    raise ValueError(f"no pyiceberg type for the DDL type {ddl_type!r}")


def iceberg_schema(spec: TableSpec) -> Any:
    """The spec's columns as a pyiceberg ``Schema`` (ids in column order, then elements)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import ListType, NestedField

    definitions = spec.column_definitions()
    next_id = len(definitions) + 1
    fields = []
    for field_id, definition in enumerate(definitions, start=1):
        comment = re.search(r"COMMENT '([^']*)'", definition)
        head = definition[: comment.start()] if comment else definition
        required = bool(re.search(r"\bNOT NULL\b", head, re.IGNORECASE))
        name, ddl_type = re.sub(r"\bNOT NULL\b", "", head, flags=re.IGNORECASE).split(None, 1)
        ddl_type = ddl_type.strip()
        array = _ARRAY.match(ddl_type)
        if array:
            field_type: Any = ListType(
                element_id=next_id, element_type=_primitive(array.group(1)), element_required=False
            )
            next_id += 1
        else:
            field_type = _primitive(ddl_type)
        fields.append(
            NestedField(
                field_id=field_id,
                name=name.strip("`"),
                field_type=field_type,
                required=required,
                doc=comment.group(1) if comment else None,
            )
        )
    return Schema(*fields)


def create_table(catalog: Any, database: str, spec: TableSpec) -> Any:
    """The spec's table in ``database`` (identity-partitioned, format v2), created if missing."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    schema = iceberg_schema(spec)
    partitioning = PartitionSpec(
        *[
            PartitionField(
                source_id=schema.find_field(column).field_id,
                field_id=1000 + position,
                transform=IdentityTransform(),
                name=column,
            )
            for position, column in enumerate(spec.partition_columns)
        ]
    )
    catalog.create_namespace_if_not_exists(database)
    return catalog.create_table_if_not_exists(
        f"{database}.{spec.name}",
        schema=schema,
        partition_spec=partitioning,
        properties=dict(COMMON_PROPERTIES),
    )


def append_rows(table: Any, rows: list[dict[str, Any]]) -> None:
    """Append rows (column name -> Python value) to a table in one commit."""
    import pyarrow as pa

    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))
