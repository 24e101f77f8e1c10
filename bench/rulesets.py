"""The same N row rules for lakeprep, pandera and Great Expectations, over the flights columns.

Rules are the four kinds every tool has natively (range, allowed values, regex, not null), listed
in an order that mixes kinds and columns; a rule set of N rules is the first N. Some rules are the
contract's own checks (always pass on clean data), some are plausibility bands that real rows fail
(long delays, unknown destinations, strict tail-number format, missing values), so every tool has
real failures to find. The synthetic contract is schemas/flights.yaml with its rules replaced, every
column nullable (nullability is one of the N rules) and no key: the rules are exactly what varies.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import yaml

from lake.contracts import Contract, parse_contract
from lake.paths import contracts_dir

CARRIERS = ["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9", "YV", "HA", "OO"]
_DESTS = [
    "ORD",
    "ATL",
    "LAX",
    "BOS",
    "MCO",
    "CLT",
    "SFO",
    "FLL",
    "MIA",
    "DCA",
    "DTW",
    "DFW",
    "RDU",
    "TPA",
    "DEN",
    "IAH",
    "MSP",
    "PBI",
    "BNA",
    "LAS",
    "SJU",
    "IAD",
    "BUF",
    "PHX",
    "CLE",
    "STL",
    "MCI",
    "MSY",
    "SEA",
    "CVG",
    "RSW",
    "SAN",
    "PIT",
    "BWI",
    "IND",
    "CMH",
    "SRQ",
    "HOU",
    "SLC",
    "AUS",
    "JAX",
    "BTV",
    "MKE",
    "BDL",
    "ORF",
    "ROC",
    "SAT",
    "CHS",
    "MDW",
    "SMF",
    "DAY",
    "PWM",
    "RIC",
    "SYR",
    "OMA",
    "BQN",
    "MEM",
    "GSO",
    "GSP",
    "XNA",
    "TYS",
    "TUL",
    "PDX",
    "OKC",
    "CAK",
    "CRW",
    "SAV",
    "BHM",
    "ALB",
    "BGR",
    "STT",
    "MSN",
    "MHT",
    "SNA",
    "CHO",
    "SDF",
    "DSM",
    "JAC",
    "AVL",
    "EYW",
    "HNL",
    "OAK",
    "SJC",
    "MYR",
    "GRR",
    "BUR",
    "PSE",
    "PVD",
    "ACK",
    "ABQ",
    "MVY",
    "EGE",
]


@dataclass(frozen=True)
class Rule:
    kind: str  # range | allowed | regex | not_null
    column: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    pattern: str = ""

    @property
    def name(self) -> str:
        digest = zlib.crc32(repr((self.low, self.high, self.values, self.pattern)).encode()) % 10_000
        return f"{self.kind}_{self.column}_{digest:04d}"


def _r(column: str, low: float | None, high: float | None) -> Rule:
    return Rule("range", column, low, high)


CANDIDATES: tuple[Rule, ...] = (
    _r("month", 1, 12),
    Rule("allowed", "origin", values=("EWR", "JFK", "LGA")),
    Rule("regex", "carrier", pattern="^[A-Z0-9]{2}$"),
    Rule("not_null", "dep_time"),
    _r("dep_delay", -60, 600),
    Rule("allowed", "carrier", values=tuple(CARRIERS)),
    Rule("regex", "tailnum", pattern="^N[0-9]{1,5}[A-Z]{0,2}$"),
    Rule("not_null", "tailnum"),
    _r("distance", 1, 6000),
    _r("arr_delay", -90, 600),
    # 10
    _r("day", 1, 31),
    _r("dep_time", 1, 2400),
    _r("arr_time", 1, 2400),
    Rule("regex", "dest", pattern="^[A-Z]{3}$"),
    Rule("not_null", "arr_delay"),
    _r("air_time", 20, 700),
    Rule("allowed", "dest", values=tuple(_DESTS)),
    _r("hour", 0, 23),
    _r("minute", 0, 59),
    Rule("not_null", "air_time"),
    _r("sched_dep_time", 1, 2359),
    _r("sched_arr_time", 1, 2359),
    Rule("regex", "origin", pattern="^[A-Z]{3}$"),
    _r("year", 2013, 2013),
    Rule("not_null", "arr_time"),
    # 25
    _r("dep_delay", -120, 1800),
    _r("arr_delay", -120, 1800),
    _r("air_time", 1, 900),
    _r("distance", 17, 4983),
    Rule("allowed", "month", values=tuple(range(1, 13))),
    Rule("allowed", "hour", values=tuple(range(5, 24))),
    Rule("regex", "tailnum", pattern="^N[0-9A-Z]+$"),
    _r("sched_dep_time", 500, 2359),
    _r("dep_time", 100, 2359),
    _r("arr_time", 1, 2359),
    Rule("not_null", "carrier"),
    Rule("not_null", "origin"),
    Rule("not_null", "dest"),
    Rule("not_null", "flight"),
    Rule("not_null", "distance"),
    Rule("not_null", "hour"),
    Rule("not_null", "minute"),
    Rule("not_null", "sched_dep_time"),
    Rule("not_null", "dep_delay"),
    Rule("not_null", "time_hour"),
    _r("flight", 1, 999_999),
    _r("dep_delay", -30, 300),
    _r("arr_delay", -60, 300),
    Rule("allowed", "day", values=tuple(range(1, 32))),
    Rule("regex", "carrier", pattern="^[A-Z0-9]+$"),
    # 50
)


def rule_set(n: int) -> list[Rule]:
    if n > len(CANDIDATES):
        raise ValueError(f"at most {len(CANDIDATES)} rules are defined")
    rules = list(CANDIDATES[:n])
    names = [r.name for r in rules]
    assert len(set(names)) == len(names), "rule names must be unique"
    return rules


def _contract_rule(rule: Rule) -> dict[str, Any]:
    base = {"name": rule.name, "column": rule.column, "severity": "quarantine"}
    if rule.kind == "range":
        return {**base, "check": "range", "min": rule.low, "max": rule.high}
    if rule.kind == "allowed":
        return {**base, "check": "allowed_values", "values": list(rule.values)}
    if rule.kind == "regex":
        return {**base, "check": "regex", "pattern": rule.pattern}
    return {**base, "check": "not_null"}


def synthetic_contract(n: int) -> Contract:
    """flights.yaml with the first ``n`` rules, every column nullable and no dataset rules; its keys
    stay (clean quarantines duplicates, the hand-written job drops them)."""
    source = contracts_dir() / "flights.yaml"
    document = yaml.safe_load(source.read_text())
    for column in document["columns"]:
        column["nullable"] = True
    document["rules"] = [_contract_rule(r) for r in rule_set(n)]
    document["dataset_rules"] = []
    return parse_contract(yaml.safe_dump(document), f"bench:flights_{n}_rules.yaml")


def pandera_schema(rules: list[Rule], types: dict[str, str]) -> Any:
    """A pandera DataFrameSchema (pyspark backend) with the same checks, grouped by column."""
    import pandera.pyspark as pa
    from pyspark.sql import types as T

    spark_types = {
        "int": T.IntegerType(),
        "double": T.DoubleType(),
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
    }
    checks: dict[str, list[Any]] = {}
    required: set[str] = set()
    for rule in rules:
        found = checks.setdefault(rule.column, [])
        if rule.kind == "range":
            found.append(pa.Check.in_range(rule.low, rule.high))
        elif rule.kind == "allowed":
            found.append(pa.Check.isin(list(rule.values)))
        elif rule.kind == "regex":
            found.append(pa.Check.str_matches(rule.pattern))
        else:
            required.add(rule.column)
    columns = {
        name: pa.Column(spark_types[types[name]], checks=found, nullable=name not in required)
        for name, found in checks.items()
    }
    return pa.DataFrameSchema(columns)


def ge_expectations(rules: list[Rule]) -> list[Any]:
    """Great Expectations 1.x expectations for the same rules."""
    import great_expectations.expectations as gxe

    out: list[Any] = []
    for rule in rules:
        meta = {"rule": rule.name}
        if rule.kind == "range":
            out.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=rule.column, min_value=rule.low, max_value=rule.high, meta=meta
                )
            )
        elif rule.kind == "allowed":
            out.append(
                gxe.ExpectColumnValuesToBeInSet(column=rule.column, value_set=list(rule.values), meta=meta)
            )
        elif rule.kind == "regex":
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=rule.column, regex=rule.pattern, meta=meta))
        else:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=rule.column, meta=meta))
    return out


def passes(rules: list[Rule]) -> Any:
    """The hand-written filter: a row passes when no rule fails (a NULL passes every rule but not null),
    written as a Spark user would, straight from the rule list."""
    from functools import reduce

    from pyspark.sql import functions as F

    def ok(rule: Rule) -> Any:
        value = F.col(rule.column)
        if rule.kind == "not_null":
            return value.isNotNull()
        if rule.kind == "range":
            check = value.between(F.lit(rule.low), F.lit(rule.high))
        elif rule.kind == "allowed":
            check = value.isin(list(rule.values))
        else:
            check = value.cast("string").rlike(rule.pattern)
        return F.coalesce(check, F.lit(True))

    return reduce(lambda a, b: a & b, [ok(r) for r in rules])


def soda_checks(rules: list[Rule], table: str) -> str:
    """The same rules as SodaCL: one check per rule whose metric is that rule's failing-row count.

    ``missing_count`` counts NULLs (not null); ``invalid_count`` with the rule's own validity (``valid
    min``/``valid max``, ``valid values``, ``valid regex``) counts non-NULL values that fail it, which is
    how lakeprep and the other peers treat NULL in a range, set or pattern rule."""
    checks: list[Any] = []
    for rule in rules:
        if rule.kind == "not_null":
            checks.append({f"missing_count({rule.column}) = 0": {"name": rule.name}})
            continue
        if rule.kind == "range":
            valid: dict[str, Any] = {"valid min": rule.low, "valid max": rule.high}
        elif rule.kind == "allowed":
            valid = {"valid values": list(rule.values)}
        else:
            valid = {"valid regex": rule.pattern}
        checks.append({f"invalid_count({rule.column}) = 0": {"name": rule.name, **valid}})
    return yaml.safe_dump({f"checks for {table}": checks}, sort_keys=False)
