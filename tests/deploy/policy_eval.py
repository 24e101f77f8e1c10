"""A small evaluator of identity-policy Allow statements, to check what a generated policy permits.

It implements the parts of IAM evaluation the generated policies use: action and resource
wildcards (``*`` any run of characters including ``/``, ``?`` one character) and the
StringLike / StringEquals condition operators. Anything not allowed is denied (implicit deny).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z")


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(globs: str | list[str], value: str, case_sensitive: bool = True) -> bool:
    flags = 0 if case_sensitive else re.IGNORECASE
    return any(re.match(_pattern(g).pattern, value, flags) for g in _listed(globs))


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, checks in condition.items():
        for key, expected in checks.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator == "StringLike" and not _matches(expected, actual):
                return False
            if operator == "StringEquals" and actual not in _listed(expected):
                return False
            if operator not in {"StringLike", "StringEquals"}:
                raise NotImplementedError(operator)
    return True


def allowed(
    policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str] | None = None
) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not _matches(statement["Action"], action, case_sensitive=False):
            continue
        if not _matches(statement["Resource"], resource):
            continue
        if _conditions_hold(statement.get("Condition", {}), context or {}):
            return True
    return False
