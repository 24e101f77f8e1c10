"""The names of the rules lakeprep checks without a contract stating them.

They are the reasons a quarantined row carries, the keys of a run's rule-failure metrics and names
a contract's own rules may not take, so each is spelled here once. Column rules are named
``<prefix><column>``; record rules have one fixed name.
"""

from __future__ import annotations

# A landed record that does not parse (a CSV line with too many fields, broken JSON) / does not decode
# in the contract's encoding / an image file that is no image.
MALFORMED_RECORD = "malformed_record"
UNDECODABLE_RECORD = "undecodable_record"
UNREADABLE_IMAGE = "unreadable_image"
# A second row with the contract's key (the first by ingestion order is kept).
DUPLICATE_KEY = "duplicate_key"
# Column rules: a value that does not cast to its type, a NULL in a non-nullable column, a contract
# column missing from a landed file.
TYPE_PREFIX = "type__"
NOT_NULL_PREFIX = "not_null__"
MISSING_COLUMN_PREFIX = "missing_column__"

RESERVED = (
    NOT_NULL_PREFIX,
    TYPE_PREFIX,
    MALFORMED_RECORD,
    UNDECODABLE_RECORD,
    UNREADABLE_IMAGE,
    DUPLICATE_KEY,
    MISSING_COLUMN_PREFIX,
)
"""Prefixes of the names a contract rule may not take (a rule name starting with one is refused)."""


def type_rule(column: str) -> str:
    """The rule a value of ``column`` breaks when its landed text does not cast to the column's type."""
    return f"{TYPE_PREFIX}{column}"


def not_null_rule(column: str) -> str:
    """The rule a NULL breaks in a column the contract declares not nullable."""
    return f"{NOT_NULL_PREFIX}{column}"
