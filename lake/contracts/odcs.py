"""Contracts in the Open Data Contract Standard (ODCS v3), read into and written from the one ``Contract``.

ODCS says what a dataset is: a schema object, its properties (types, required, primary and partition
keys, classification), quality rules and relationships. What lakeprep decides and ODCS has no field for
(quarantine vs warn vs fail, PII handling, schema drift, how landed files are read, normalisation)
travels in ``customProperties`` named ``lakeprep.<field>``; docs/contracts.md lists the whole mapping.
Files are read with the standard's own pydantic model, and every error names the file and the ODCS
field, as errors in lakeprep's own format do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

import yaml
from open_data_contract_standard.model import (
    CustomProperty,
    DataQuality,
    OpenDataContractStandard,
    Relationship,
    SchemaObject,
    SchemaProperty,
    Team,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from lake.contracts.model import (
    AllowedValuesRule,
    Column,
    CompletenessRule,
    Contract,
    DatasetRule,
    ExpressionRule,
    NotNullRule,
    RangeRule,
    ReferenceRule,
    RegexRule,
    RowCountRule,
    RowRule,
    Severity,
    UniqueRule,
)
from lake.contracts.parsing import ContractError, field_path, validation_problems
from lake.contracts.types import TYPE_NAMES, LogicalType, logical_type

API_VERSION = "v3.2.0"  # the version the open-data-contract-standard package models
SUFFIX = ".odcs.yaml"
PREFIX = "lakeprep."
PII_CLASSIFICATION = "pii"
RULE_ORDER = "ruleOrder"

# Fields with a home in ODCS; every other field of Contract / Column is a ``lakeprep.<camelCase>`` custom
# property (so a field added to the model later round-trips without a change here).
_CONTRACT_MAPPED = {
    "name",
    "description",
    "owner",
    "version",
    "columns",
    "keys",
    "partition_by",
    "rules",
    "dataset_rules",
}
_COLUMN_MAPPED = {"name", "type", "nullable", "description"}
_CONTRACT_EXTRAS = [f for f in Contract.model_fields if f not in _CONTRACT_MAPPED]

_ODCS_LOGICAL = {
    "string": "string",
    "boolean": "boolean",
    "int": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "date": "date",
    "timestamp": "timestamp",
}
_INTEGER_FORMATS = {
    "i8": "int",
    "i16": "int",
    "i32": "int",
    "u8": "int",
    "u16": "int",
    "i64": "long",
    "u32": "long",
}
_NUMBER_FORMATS = {"f32": "float", "f64": "double"}
_SPARK_NAMES = {logical_type(n).spark_ddl: n for n in TYPE_NAMES if "(" not in n}
_IGNORED_TYPE_OPTIONS = {"timezone", "defaultTimezone"}  # lakeprep timestamps are UTC

_ODCS_SEVERITY: dict[Severity, str] = {"warn": "warning", "quarantine": "error", "fail": "error"}
_OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
_ROW_RULE: TypeAdapter[RowRule] = TypeAdapter(RowRule)
_DATASET_RULE: TypeAdapter[DatasetRule] = TypeAdapter(DatasetRule)

_SQL_SHAPE = "SELECT COUNT(*) FROM {object} WHERE <condition a failing row meets>"
_COUNT_WHERE = re.compile(
    r"^\s*SELECT\s+COUNT\s*\(\s*(?:\*|1)\s*\)\s+FROM\s+(?P<object>\S+)\s+WHERE\s+(?P<cond>.+?)\s*;?\s*$",
    re.I | re.S,
)
_OBJECT_PLACEHOLDER = re.compile(r"\$?\{(?:object|table)\}")
_PROPERTY_PLACEHOLDER = re.compile(r"\$?\{(?:property|column)\}")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(
    rf"(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op><|>)\s*"
    rf"(?:(?P<number>{_NUMBER})|CAST\s*\(\s*'(?P<text>[^']*)'\s+AS\s+(?:DATE|TIMESTAMP)\s*\))",
    re.I,
)


def is_odcs(data: Mapping[str, Any]) -> bool:
    """ODCS documents carry ``apiVersion`` / ``kind: DataContract``; lakeprep's model forbids both keys."""
    return "apiVersion" in data or data.get("kind") == "DataContract"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def odcs_logical_type(logical: LogicalType) -> str:
    return "number" if logical.name.startswith("decimal") else _ODCS_LOGICAL[logical.name]


# ------------------------------------------------------------------------------------------ export
def odcs_yaml(contract: Contract) -> str:
    """A contract as an ODCS v3 YAML document (``contracts_from_odcs`` reads it back to an equal contract)."""
    return yaml.safe_dump(odcs_document(contract), sort_keys=False, allow_unicode=True, width=120)


def odcs_document(contract: Contract) -> dict[str, Any]:
    """A contract as an ODCS v3 mapping, keys in the order the standard's examples use; checked against the
    standard's model before it is returned."""
    properties = {c.name: _property(contract, c) for c in contract.columns}
    object_quality: list[dict[str, Any]] = []
    for rule in [*contract.rules, *contract.dataset_rules]:
        column, section, entry = _export_rule(rule, contract)
        if column is None:
            object_quality.append(entry)
        else:
            properties[column].setdefault(section, []).append(entry)
    extras = _extras(contract, _CONTRACT_MAPPED)
    # Readers collect rules property by property; record lakeprep's order only where that changes it.
    document_order = [
        e["id"] for p in properties.values() for s in ("quality", "relationships") for e in p.get(s, [])
    ] + [e["id"] for e in object_quality]
    rule_names = [r.name for r in contract.rules]
    dataset_names = [r.name for r in contract.dataset_rules]
    if [n for n in document_order if n in rule_names] != rule_names or [
        n for n in document_order if n in dataset_names
    ] != dataset_names:
        extras[RULE_ORDER] = rule_names + dataset_names
    schema_object: dict[str, Any] = {"name": contract.name, "physicalType": "table"}
    if contract.description:
        schema_object["description"] = contract.description
    schema_object["properties"] = list(properties.values())
    if object_quality:
        schema_object["quality"] = object_quality
    if extras:
        schema_object["customProperties"] = _custom_properties(extras)
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": contract.name,
        "name": contract.name,
        "version": f"{contract.version}.0.0",
    }
    if contract.owner:
        document["team"] = {"name": contract.owner}
    document["schema"] = [schema_object]
    OpenDataContractStandard.model_validate(document)
    return document


def _extras(model: BaseModel, mapped: set[str]) -> dict[str, Any]:
    """The model's fields without an ODCS home, where they differ from lakeprep's defaults."""
    dumped = model.model_dump(mode="json", exclude_defaults=True)
    return {name: value for name, value in dumped.items() if name not in mapped}


def _custom_properties(extras: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"property": PREFIX + (n if n == RULE_ORDER else _camel(n)), "value": v} for n, v in extras.items()
    ]


def _property(contract: Contract, column: Column) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": column.name,
        "logicalType": odcs_logical_type(column.logical),
        "physicalType": column.logical.spark_ddl,
    }
    if column.description:
        prop["description"] = column.description
    if not column.nullable:
        prop["required"] = True
    if column.name in contract.keys:
        prop |= {"primaryKey": True, "primaryKeyPosition": contract.keys.index(column.name) + 1}
    if column.name in contract.partition_by:
        prop |= {"partitioned": True, "partitionKeyPosition": contract.partition_by.index(column.name) + 1}
    if column.pii != "none":
        prop["classification"] = PII_CLASSIFICATION
    extras = _extras(column, _COLUMN_MAPPED)
    if column.format and column.logical.is_temporal:  # ODCS's own date/timestamp format (JDK patterns)
        prop["logicalTypeOptions"] = {"format": extras.pop("format")}
    if extras:
        prop["customProperties"] = _custom_properties(extras)
    return prop


def _number(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _literal(value: float | str, logical: LogicalType) -> str:
    return f"CAST('{value}' AS {logical.spark_ddl.upper()})" if isinstance(value, str) else _number(value)


def _count_where(condition: str) -> str:
    return f"SELECT COUNT(*) FROM {{object}} WHERE {condition}"


def _null_percent(min_ratio: float) -> float:
    """Completeness as ODCS states it: the largest share of NULLs, in percent (decimal, so 0.99 <-> 1.0)."""
    return float((1 - Decimal(repr(min_ratio))) * 100)


def _min_ratio(percent: float | int) -> float:
    return float(1 - Decimal(repr(percent)) / 100)


def _row_count_bounds(rule: RowCountRule) -> dict[str, Any]:
    low, high = rule.min, rule.max
    if low is not None and high is not None:
        return {"mustBe": low} if low == high else {"mustBeBetween": [low, high]}
    if high is not None:
        return {"mustBeLessOrEqualTo": high}
    return {"mustBeGreaterOrEqualTo": low or 0}


def _export_rule(rule: RowRule | DatasetRule, contract: Contract) -> tuple[str | None, str, dict[str, Any]]:
    """(the column it sits under or None for the schema object, the section, the ODCS entry)."""
    entry: dict[str, Any] = {"id": rule.name}
    custom: dict[str, Any] = {}
    row_rule = not isinstance(rule, RowCountRule | CompletenessRule)
    if isinstance(rule, ReferenceRule):  # an ODCS foreign key; it has no severity or description field
        entry["to"] = f"{rule.dataset}.{rule.ref_column}"
        if rule.severity != ReferenceRule.model_fields["severity"].default:
            custom["severity"] = rule.severity
        if rule.description:
            custom["description"] = rule.description
        if custom:
            entry["customProperties"] = _custom_properties(custom)
        return rule.column, "relationships", entry
    if rule.description:
        entry["description"] = rule.description
    column: str | None = None
    if isinstance(rule, NotNullRule):
        column = rule.column
        entry |= {"metric": "nullValues", "mustBe": 0}
    elif isinstance(rule, AllowedValuesRule):
        column = rule.column
        entry |= {"metric": "invalidValues", "arguments": {"validValues": list(rule.values)}, "mustBe": 0}
    elif isinstance(rule, RegexRule):
        column = rule.column
        entry |= {"metric": "invalidValues", "arguments": {"pattern": rule.pattern}, "mustBe": 0}
    elif isinstance(rule, RangeRule):
        column = rule.column
        logical = contract.column(rule.column).logical
        checks = [
            f"{{property}} {op} {_literal(v, logical)}"
            for op, v in (("<", rule.min), (">", rule.max))
            if v is not None
        ]
        entry |= {"type": "sql", "query": _count_where(" OR ".join(checks)), "mustBe": 0}
    elif isinstance(rule, ExpressionRule):
        entry |= {"type": "sql", "query": _count_where(f"NOT ({rule.expr})"), "mustBe": 0}
        if rule.columns:
            custom["columns"] = list(rule.columns)
    elif isinstance(rule, UniqueRule):
        entry |= {"metric": "duplicateValues", "mustBe": 0}
        if len(rule.columns) == 1:
            column = rule.columns[0]
        else:
            entry["arguments"] = {"properties": list(rule.columns)}
    elif isinstance(rule, RowCountRule):
        entry |= {"metric": "rowCount", **_row_count_bounds(rule)}
    else:
        column = rule.column
        entry |= {
            "metric": "nullValues",
            "unit": "percent",
            "mustBeLessOrEqualTo": _null_percent(rule.min_ratio),
        }
    entry["severity"] = _ODCS_SEVERITY[rule.severity]
    if _severity_of(entry["severity"], row_rule) != rule.severity:
        custom["severity"] = rule.severity
    if custom:
        entry["customProperties"] = _custom_properties(custom)
    return column, "quality", entry


def _severity_of(odcs_severity: str, row_rule: bool) -> Severity | None:
    """lakeprep's reading of an ODCS severity: an error quarantines a row, or stops a run for a dataset rule."""
    key = odcs_severity.strip().lower()
    if key in {"info", "warning"}:
        return "warn"
    if key == "error":
        return "quarantine" if row_rule else "fail"
    return None


# ------------------------------------------------------------------------------------------ import
def contracts_from_odcs(data: dict[str, Any], source: str) -> list[Contract]:
    """Every schema object of an ODCS v3 document as a contract; errors name ``source`` and the ODCS field."""
    try:
        document = OpenDataContractStandard.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{source}: {validation_problems(exc)}") from None
    return _Reader(source).contracts(data, document)


@dataclass
class _Pending:
    """A rule read from ODCS, before its name is settled and the rule model checks it."""

    rule: dict[str, Any]
    where: str
    row_rule: bool
    base_name: str
    paths: dict[str, str] = field(default_factory=dict)
    from_flag: bool = False  # `unique: true` on a property: dropped when a rule already says so


def _unknown_fields(raw: Any, parsed: Any, path: str) -> Iterator[str]:
    """Keys of the document the standard's model dropped: the pydantic model ignores unknown nested keys,
    and a misspelt ``requried`` must not silently make a column nullable."""
    if isinstance(raw, dict) and isinstance(parsed, dict):
        for key, value in raw.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in parsed:
                yield where
            else:
                yield from _unknown_fields(value, parsed[key], where)
    elif isinstance(raw, list) and isinstance(parsed, list):
        for i, (item, parsed_item) in enumerate(zip(raw, parsed, strict=False)):
            yield from _unknown_fields(item, parsed_item, f"{path}[{i}]")


def _located(paths: Mapping[str, str], where: str) -> Callable[[tuple[int | str, ...]], str]:
    """Spell a lakeprep model's error location as the ODCS field it came from."""

    def locate(loc: tuple[int | str, ...]) -> str:
        if not loc:
            return where
        head = paths.get(str(loc[0]))
        if head is None:
            return f"{where} ({field_path(loc)})"
        rest = field_path(loc[1:]) if len(loc) > 1 else ""
        return head if not rest else head + (rest if rest.startswith("[") else f".{rest}")

    return locate


def _ident(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_") or "rule"
    return name if not name[0].isdigit() else f"r_{name}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _negated(condition: str) -> str | None:
    """``X`` when the condition is exactly ``NOT (X)`` (the form lakeprep writes expression rules in)."""
    start = re.match(r"NOT\s*\(", condition, re.I)
    if not start or not condition.endswith(")"):
        return None
    depth, quoted = 0, False
    for i in range(start.end() - 1, len(condition)):
        char = condition[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return condition[start.end() : -1] if i == len(condition) - 1 else None
    return None


def _range(condition: str) -> dict[str, Any] | None:
    """``c < lo OR c > hi`` (or one side) as a range rule, the form lakeprep writes range rules in."""
    parts = [p.strip() for p in re.split(r"\s+OR\s+", condition, flags=re.I)]
    found = [_COMPARISON.fullmatch(p) for p in parts]
    if len(parts) > 2 or not all(found):
        return None
    matches = [m for m in found if m is not None]
    if len({m["column"] for m in matches}) != 1 or [m["op"] for m in matches] not in (
        ["<"],
        [">"],
        ["<", ">"],
    ):
        return None
    rule: dict[str, Any] = {"column": matches[0]["column"]}
    for m in matches:
        rule["min" if m["op"] == "<" else "max"] = (
            float(m["number"]) if m["number"] is not None else m["text"]
        )
    return rule


class _Reader:
    """Reads one ODCS document; ``fail`` raises the one-line error naming the file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        raise ContractError(f"{self.source}: {where}: {message}")

    def validated(self, model: Any, data: dict[str, Any], paths: Mapping[str, str], where: str) -> Any:
        try:
            return (
                model.validate_python(data) if isinstance(model, TypeAdapter) else model.model_validate(data)
            )
        except ValidationError as exc:
            locate = _located(paths, where)
            tag = data.get("check")

            def untagged(loc: tuple[int | str, ...]) -> str:  # rule unions prefix the location with the check
                return locate(loc[1:] if loc and loc[0] == tag else loc)

            raise ContractError(f"{self.source}: {validation_problems(exc, untagged)}") from None

    # ---------------------------------------------------------------------------- the document
    def contracts(self, data: dict[str, Any], document: OpenDataContractStandard) -> list[Contract]:
        dumped = document.model_dump(by_alias=True, exclude_unset=True)
        for key in ("schema", "customProperties"):
            for where in _unknown_fields(data.get(key), dumped.get(key), key):
                self.fail(where, "unknown field (not in ODCS v3)")
        if document.kind not in (None, "DataContract"):
            self.fail("kind", f"{document.kind!r}: an ODCS data contract has kind DataContract")
        if document.apiVersion is not None and not document.apiVersion.startswith("v3."):
            self.fail(
                "apiVersion", f"{document.apiVersion!r}: lakeprep reads ODCS v3 (v3.0.0 to {API_VERSION})"
            )
        if not document.schema_:
            self.fail("schema", "no schema objects, so no dataset to describe")
        shared = self.lakeprep_properties(document.customProperties, "")
        self.leftovers(shared, [_camel(f) for f in _CONTRACT_EXTRAS])
        return [self.contract(document, i, obj, shared) for i, obj in enumerate(document.schema_)]

    def contract(
        self,
        document: OpenDataContractStandard,
        index: int,
        obj: SchemaObject,
        shared: Mapping[str, tuple[Any, str]],
    ) -> Contract:
        where = f"schema[{index}]"
        props = self.lakeprep_properties(obj.customProperties, where)
        description = obj.description or (document.description.purpose if document.description else None)
        data: dict[str, Any] = {"name": obj.name, "description": description or ""}
        paths = {
            "name": f"{where}.name",
            "description": f"{where}.description",
            "columns": f"{where}.properties",
        }
        if isinstance(document.team, Team) and document.team.name:
            data["owner"], paths["owner"] = document.team.name, "team.name"
        if document.version is not None:
            major = re.match(r"v?(\d+)", document.version.strip())
            if not major:
                self.fail(
                    "version", f"{document.version!r}: lakeprep needs a major version number, e.g. 1.0.0"
                )
            data["version"], paths["version"] = int(major.group(1)), "version"
        for name in _CONTRACT_EXTRAS:  # the schema object's own, else the document's for every object
            if found := props.pop(_camel(name), None) or shared.get(_camel(name)):
                data[name], paths[name] = found[0], f"{found[1]}.value"
        order = props.pop(RULE_ORDER, None)
        self.leftovers(props, [*map(_camel, _CONTRACT_EXTRAS), RULE_ORDER])

        columns: list[Column] = []
        pending: list[_Pending] = []
        keys: list[tuple[float, int, str]] = []
        partitions: list[tuple[float, int, str]] = []
        for j, prop in enumerate(obj.properties or []):
            at = f"{where}.properties[{j}]"
            columns.append(self.column(prop, at))
            if prop.primaryKey:
                keys.append((_position(prop.primaryKeyPosition), j, columns[-1].name))
            if prop.partitioned:
                partitions.append((_position(prop.partitionKeyPosition), j, columns[-1].name))
            pending += self.property_rules(prop, at, columns[-1])
        for k, quality in enumerate(obj.quality or []):
            rule = self.quality(quality, f"{where}.quality[{k}]", None, data["name"] or "dataset")
            if rule is not None:
                pending.append(rule)
        for k, relation in enumerate(obj.relationships or []):
            pending.append(self.relationship(relation, f"{where}.relationships[{k}]", None, obj.name))
        rules, dataset_rules = self.rules(pending)
        if order is not None:
            rules, dataset_rules = self.ordered(order, rules, dataset_rules)
        data |= {
            "columns": columns,
            "keys": [name for *_, name in sorted(keys)],
            "partition_by": [name for *_, name in sorted(partitions)],
            "rules": rules,
            "dataset_rules": dataset_rules,
        }
        return self.validated(Contract, data, paths, where)

    def lakeprep_properties(
        self, items: list[CustomProperty] | None, where: str
    ) -> dict[str, tuple[Any, str]]:
        """``lakeprep.*`` custom properties by name (without the prefix): (value, ODCS path)."""
        found: dict[str, tuple[Any, str]] = {}
        for k, item in enumerate(items or []):
            path = f"{where}.customProperties[{k}]" if where else f"customProperties[{k}]"
            if not (item.property or "").startswith(PREFIX):
                continue  # another tool's property
            name = (item.property or "").removeprefix(PREFIX)
            if name in found:
                self.fail(path, f"{item.property} is given twice")
            found[name] = (item.value, path)
        return found

    def leftovers(self, props: Mapping[str, tuple[Any, str]], known: Iterable[str]) -> None:
        for name, (_, path) in props.items():
            if name not in known:
                allowed = ", ".join(PREFIX + k for k in known) or "none"
                self.fail(path, f"unknown custom property {PREFIX + name!r} here (lakeprep reads {allowed})")

    def ordered(
        self, order: tuple[Any, str], rules: list[RowRule], dataset_rules: list[DatasetRule]
    ) -> tuple[list[RowRule], list[DatasetRule]]:
        names, path = order
        known = {r.name for r in [*rules, *dataset_rules]}
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.fail(f"{path}.value", "a list of rule names")
        if unknown := [n for n in names if n not in known]:
            self.fail(f"{path}.value", f"names rules this schema object does not have: {unknown}")
        rank = {name: i for i, name in enumerate(names)}
        return (
            sorted(rules, key=lambda r: rank.get(r.name, len(rank))),
            sorted(dataset_rules, key=lambda r: rank.get(r.name, len(rank))),
        )

    # ---------------------------------------------------------------------------- properties
    def column_type(self, prop: SchemaProperty, where: str) -> tuple[str, str]:
        """lakeprep's type of a property and the ODCS field it came from: physicalType when lakeprep knows it
        (its own names and Spark's), else the logical type and its format."""
        logical = prop.logicalType.strip().lower() if prop.logicalType else None
        if prop.physicalType:
            key = prop.physicalType.strip().lower()
            try:
                name = logical_type(_SPARK_NAMES.get(key, key)).name
            except ValueError:
                name = None
            if name is not None:
                expected = odcs_logical_type(logical_type(name))
                if logical is not None and logical != expected:
                    self.fail(
                        f"{where}.logicalType",
                        f"{prop.logicalType!r} does not match physicalType {prop.physicalType!r} ({expected})",
                    )
                return name, f"{where}.physicalType"
        options = prop.logicalTypeOptions or {}
        fmt = options.get("format")
        if logical in {"string", "boolean", "date", "timestamp"}:
            return logical, f"{where}.logicalType"
        if logical in {"integer", "number"}:
            formats = _INTEGER_FORMATS if logical == "integer" else _NUMBER_FORMATS
            name = formats.get(fmt or ("i32" if logical == "integer" else "f64"))
            if name is None:
                self.fail(
                    f"{where}.logicalTypeOptions.format", f"{fmt!r}: lakeprep reads {', '.join(formats)}"
                )
            return name, f"{where}.logicalType"
        if logical is None:
            self.fail(
                where, f"needs a logicalType (or a physicalType lakeprep knows: {', '.join(TYPE_NAMES)})"
            )
        self.fail(
            f"{where}.logicalType",
            f"{prop.logicalType!r} is not supported: lakeprep columns are string, integer, number, boolean, "
            "date or timestamp",
        )

    def column(self, prop: SchemaProperty, where: str) -> Column:
        for nested in ("properties", "items", "map"):
            if getattr(prop, nested) is not None:
                self.fail(
                    f"{where}.{nested}", "nested properties are not supported: lakeprep columns are flat"
                )
        type_name, type_path = self.column_type(prop, where)
        data: dict[str, Any] = {
            "name": prop.name,
            "type": type_name,
            "nullable": not prop.required,
            "description": prop.description or "",
        }
        paths = {
            "name": f"{where}.name",
            "type": type_path,
            "nullable": f"{where}.required",
            "description": f"{where}.description",
        }
        options = dict(prop.logicalTypeOptions or {})
        temporal = logical_type(type_name).is_temporal
        width = (prop.logicalType or "").strip().lower() in {"integer", "number"}
        if "format" in options and (temporal or width):
            fmt = options.pop("format")  # a date pattern, or the integer/number width (see column_type)
            if temporal:
                data["format"], paths["format"] = fmt, f"{where}.logicalTypeOptions.format"
        for option in options:
            if option not in _IGNORED_TYPE_OPTIONS or not temporal:
                self.fail(
                    f"{where}.logicalTypeOptions.{option}",
                    "lakeprep does not enforce this option; write it as a quality rule (docs/contracts.md)",
                )
        props = self.lakeprep_properties(prop.customProperties, where)
        generic = [f for f in Column.model_fields if f not in _COLUMN_MAPPED]
        for name in generic:
            if (found := props.pop(_camel(name), None)) is not None:
                if name in data:
                    self.fail(found[1], f"{PREFIX}{_camel(name)} repeats {paths[name]}")
                data[name], paths[name] = found[0], f"{found[1]}.value"
        self.leftovers(props, [_camel(f) for f in generic])
        if "pii" not in data and (prop.classification or "").strip().lower() == PII_CLASSIFICATION:
            if type_name != "string":
                self.fail(
                    f"{where}.classification",
                    f"'pii' on a {type_name} column needs customProperties {PREFIX}pii (drop or keep): "
                    "the default, hash, applies to strings",
                )
            data["pii"], paths["pii"] = "hash", f"{where}.classification"
        return self.validated(Column, data, paths, where)

    def property_rules(self, prop: SchemaProperty, where: str, column: Column) -> list[_Pending]:
        pending = []
        for k, quality in enumerate(prop.quality or []):
            rule = self.quality(quality, f"{where}.quality[{k}]", column.name, column.name)
            if rule is not None:
                pending.append(rule)
        for k, relation in enumerate(prop.relationships or []):
            pending.append(self.relationship(relation, f"{where}.relationships[{k}]", column.name, None))
        if prop.unique:
            unique = {"check": "unique", "columns": [column.name]}
            pending.append(_Pending(unique, f"{where}.unique", True, f"{column.name}_unique", from_flag=True))
        if prop.enum:
            allowed = {
                "check": "allowed_values",
                "column": column.name,
                "values": [e.value for e in prop.enum],
            }
            paths = {"values": f"{where}.enum"}
            pending.append(_Pending(allowed, f"{where}.enum", True, f"{column.name}_values", paths))
        return pending

    # ---------------------------------------------------------------------------- rules
    def severity(
        self,
        odcs: str | None,
        props: dict[str, tuple[Any, str]],
        row_rule: bool,
        where: str,
        paths: dict[str, str],
    ) -> Any:
        """``lakeprep.severity`` if given, else lakeprep's reading of the ODCS severity (None: the default)."""
        if (found := props.pop("severity", None)) is not None:
            paths["severity"] = f"{found[1]}.value"
            return found[0]
        if odcs is None:
            return None
        paths["severity"] = f"{where}.severity"
        severity = _severity_of(odcs, row_rule)
        if severity is None:
            self.fail(
                f"{where}.severity",
                f"{odcs!r}: lakeprep reads info, warning or error (or customProperties {PREFIX}severity: "
                "warn, quarantine or fail)",
            )
        return severity

    def quality(self, quality: DataQuality, where: str, column: str | None, subject: str) -> _Pending | None:
        """One ODCS quality entry as a lakeprep rule (None for ``text`` rules, which only describe)."""
        kind = (quality.type or ("sql" if quality.query and not quality.metric else "library")).lower()
        props = self.lakeprep_properties(quality.customProperties, where)
        paths: dict[str, str] = {}
        if kind == "text":
            self.leftovers(props, [])
            return None
        if kind == "custom":
            self.fail(
                f"{where}.type",
                f"custom rules (engine {quality.engine!r}) are not run by lakeprep; write it as a library or sql rule",
            )
        if kind == "sql":
            rule, row_rule, metric = self.sql_rule(quality, where, column, subject, props, paths), True, "sql"
        elif kind == "library":
            metric = quality.metric or quality.rule or ""
            if not metric:
                self.fail(f"{where}.metric", "a library rule needs a metric (or type: sql with a query)")
            rule, row_rule = self.library_rule(quality, metric, where, column, paths)
        else:
            self.fail(
                f"{where}.type", f"unknown quality type {quality.type!r}; ODCS has library, sql, text, custom"
            )
        severity = self.severity(quality.severity, props, row_rule, where, paths)
        if severity is not None:
            rule["severity"] = severity
        if quality.id or (quality.name and re.fullmatch(r"[A-Za-z_]\w*", quality.name)):
            rule["name"] = quality.id or quality.name
            paths["name"] = f"{where}.id" if quality.id else f"{where}.name"
        if quality.description:
            rule["description"], paths["description"] = quality.description, f"{where}.description"
        self.leftovers(props, ["severity", "columns"] if rule["check"] == "expression" else ["severity"])
        return _Pending(rule, where, row_rule, f"{subject}_{_snake(metric)}", paths)

    def operators(self, quality: DataQuality) -> dict[str, Any]:
        return {op: getattr(quality, op) for op in _OPERATORS if getattr(quality, op) is not None}

    def expect_zero(self, quality: DataQuality, where: str, what: str) -> None:
        """Row rules act on every failing row (quarantine, warn or fail), so ODCS must allow none of them."""
        ops = self.operators(quality)
        zero = [{"mustBe": 0}, {"mustBeLessOrEqualTo": 0}]
        if (quality.unit or "rows").lower() != "percent":
            zero.append({"mustBeLessThan": 1})
        if ops not in zero:
            shown = ", ".join(f"{k}: {v}" for k, v in ops.items()) or "no operator"
            self.fail(
                where,
                f"{what} is checked row by row in lakeprep (each failing row is quarantined, warned about or "
                f"stops the run), so it needs mustBe: 0, not {shown}",
            )

    def library_rule(
        self, quality: DataQuality, metric: str, where: str, column: str | None, paths: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        arguments = dict(quality.arguments or {})
        property_level = {"nullValues", "invalidValues"}
        if metric in property_level and column is None:
            self.fail(f"{where}.metric", f"{metric} checks one property: put the rule under that property")
        rule: dict[str, Any]
        if metric == "nullValues" and (quality.unit or "").lower() == "percent":
            ops = self.operators(quality)
            bound = ops.get(
                "mustBeLessOrEqualTo", ops.get("mustBeLessThan", 0 if ops == {"mustBe": 0} else None)
            )
            if len(ops) != 1 or not isinstance(bound, int | float):
                self.fail(where, "a null percentage needs one bound: mustBeLessOrEqualTo (or mustBeLessThan)")
            rule = {"check": "completeness", "column": column, "min_ratio": _min_ratio(bound)}
            paths["min_ratio"] = f"{where}.{next(iter(ops))}"
            return rule, False
        if metric == "nullValues":
            self.expect_zero(quality, where, "nullValues")
            return {"check": "not_null", "column": column}, True
        if metric == "invalidValues":
            valid, pattern = arguments.pop("validValues", None), arguments.pop("pattern", None)
            if (valid is None) == (pattern is None):
                self.fail(f"{where}.arguments", "invalidValues needs one of validValues or pattern")
            self.expect_zero(quality, where, "invalidValues")
            self.no_more(arguments, where, metric)
            paths |= {"values": f"{where}.arguments.validValues", "pattern": f"{where}.arguments.pattern"}
            if valid is not None:
                return {"check": "allowed_values", "column": column, "values": valid}, True
            return {"check": "regex", "column": column, "pattern": pattern}, True
        if metric == "duplicateValues":
            columns = arguments.pop("properties", None)
            if columns is None:
                if column is None:
                    self.fail(
                        f"{where}.arguments", "duplicateValues on a schema object needs arguments.properties"
                    )
                columns = [column]
            self.expect_zero(quality, where, "duplicateValues")
            self.no_more(arguments, where, metric)
            paths["columns"] = f"{where}.arguments.properties"
            return {"check": "unique", "columns": columns}, True
        if metric == "rowCount":
            self.no_more(arguments, where, metric)
            return {"check": "row_count", **self.count_bounds(quality, where, paths)}, False
        if metric == "missingValues":
            self.fail(
                f"{where}.metric",
                f"missingValues is not run by lakeprep, which reads missing-value markers as NULL "
                f"(customProperties {PREFIX}source: null_values): use nullValues",
            )
        self.fail(
            f"{where}.metric",
            f"{metric!r} is not an ODCS library metric lakeprep runs (nullValues, invalidValues, duplicateValues, "
            "rowCount)",
        )

    def no_more(self, arguments: Mapping[str, Any], where: str, metric: str) -> None:
        for name in arguments:
            self.fail(f"{where}.arguments.{name}", f"not an argument of {metric}")

    def count_bounds(self, quality: DataQuality, where: str, paths: dict[str, str]) -> dict[str, int]:
        """rowCount operators as lakeprep's inclusive min/max (mustBeBetween is inclusive, like SQL BETWEEN)."""
        lows: list[int] = []
        highs: list[int] = []
        ops = self.operators(quality)
        if not ops:
            self.fail(where, "rowCount needs an operator, e.g. mustBeGreaterThan: 0")
        for op, value in ops.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                self.fail(f"{where}.{op}", f"{value!r} is not a number")
            if op in {"mustBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo", "mustBeBetween"}:
                paths["min"] = f"{where}.{op}"
            if op in {"mustBe", "mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween"}:
                paths["max"] = f"{where}.{op}"
            if op == "mustBe":
                lows.append(math.ceil(value))
                highs.append(math.floor(value))
            elif op == "mustBeGreaterThan":
                lows.append(math.floor(value) + 1)
            elif op == "mustBeGreaterOrEqualTo":
                lows.append(math.ceil(value))
            elif op == "mustBeLessThan":
                highs.append(math.ceil(value) - 1)
            elif op == "mustBeLessOrEqualTo":
                highs.append(math.floor(value))
            elif op == "mustBeBetween":
                lows.append(math.ceil(min(value)))
                highs.append(math.floor(max(value)))
            else:
                self.fail(
                    f"{where}.{op}",
                    "lakeprep's row count takes a minimum and a maximum; use mustBe... bounds",
                )
        bounds = {}
        if lows:
            bounds["min"] = max(lows)
        if highs:
            bounds["max"] = min(highs)
        return bounds

    def sql_rule(
        self,
        quality: DataQuality,
        where: str,
        column: str | None,
        subject: str,
        props: dict[str, tuple[Any, str]],
        paths: dict[str, str],
    ) -> dict[str, Any]:
        query = quality.query or ""
        if column is not None:
            query = _PROPERTY_PLACEHOLDER.sub(column, query)
        match = _COUNT_WHERE.match(query)
        table = match["object"].strip('`"') if match else ""
        if not match or not (_OBJECT_PLACEHOLDER.fullmatch(table) or table == subject):
            self.fail(f"{where}.query", f"lakeprep runs sql rules of the form {_SQL_SHAPE} with mustBe: 0")
        if _PROPERTY_PLACEHOLDER.search(query):
            self.fail(f"{where}.query", "{property} only means something in a rule under a property")
        self.expect_zero(quality, where, "an sql rule")
        condition = match["cond"].strip()
        paths |= {"expr": f"{where}.query", "min": f"{where}.query", "max": f"{where}.query"}
        inner = _negated(condition)
        bounds = _range(condition) if inner is None else None
        if bounds is not None:
            return {"check": "range", **bounds}
        rule: dict[str, Any] = {
            "check": "expression",
            "expr": inner if inner is not None else f"NOT ({condition})",
        }
        if (found := props.pop("columns", None)) is not None:
            rule["columns"], paths["columns"] = found[0], f"{found[1]}.value"
        elif column is not None:
            rule["columns"] = [column]
        return rule

    def relationship(
        self, relation: Relationship, where: str, column: str | None, object_name: str | None
    ) -> _Pending:
        """A foreign key as a reference rule: values must exist in ``<dataset>.<column>``."""
        if relation.type not in (None, "foreignKey"):
            self.fail(f"{where}.type", f"{relation.type!r}: lakeprep checks foreignKey relationships")
        if column is None:
            source = relation.from_
            if not isinstance(source, str):
                self.fail(
                    f"{where}.from", "one property (<object>.<property>): composite keys are not supported"
                )
            owner, _, column = source.rpartition(".")
            if owner not in ("", object_name):
                self.fail(f"{where}.from", f"{source!r} is not a property of {object_name!r}")
        target = relation.to
        if not isinstance(target, str) or target.count(".") != 1:
            self.fail(f"{where}.to", f"{target!r}: lakeprep references one column as <dataset>.<column>")
        dataset, ref_column = target.split(".")
        rule: dict[str, Any] = {
            "check": "reference",
            "column": column,
            "dataset": dataset,
            "ref_column": ref_column,
        }
        paths = {"column": f"{where}.from", "dataset": f"{where}.to", "ref_column": f"{where}.to"}
        if relation.id:
            rule["name"], paths["name"] = relation.id, f"{where}.id"
        props = self.lakeprep_properties(relation.customProperties, where)
        for name in ("severity", "description"):
            if (found := props.pop(name, None)) is not None:
                rule[name], paths[name] = found[0], f"{found[1]}.value"
        self.leftovers(props, ["severity", "description"])
        return _Pending(rule, where, True, f"{column}_reference", paths)

    def rules(self, pending: list[_Pending]) -> tuple[list[RowRule], list[DatasetRule]]:
        """Name the unnamed rules (``<column>_<metric>``, unique), then check each with its lakeprep model."""
        named = {tuple(p.rule["columns"]) for p in pending if p.rule["check"] == "unique" and not p.from_flag}
        pending = [p for p in pending if not (p.from_flag and tuple(p.rule["columns"]) in named)]
        taken = {p.rule["name"] for p in pending if "name" in p.rule}
        rules: list[RowRule] = []
        dataset_rules: list[DatasetRule] = []
        for p in pending:
            if "name" not in p.rule:
                base = name = _ident(p.base_name)
                n = 2
                while name in taken:
                    name, n = f"{base}_{n}", n + 1
                taken.add(name)
                p.rule["name"] = name
            if p.row_rule:
                rules.append(self.validated(_ROW_RULE, p.rule, p.paths, p.where))
            else:
                dataset_rules.append(self.validated(_DATASET_RULE, p.rule, p.paths, p.where))
        return rules, dataset_rules


def _position(position: int | None) -> float:
    """Key position for sorting: ODCS counts from 1 and uses -1 (its default) for "not given"."""
    return position if position is not None and position > 0 else math.inf
