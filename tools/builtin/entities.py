"""Entity resolution over table rows: normalising values, matching rules and merging groups."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.builtin.tables import Table

_WHITESPACE_RUN = re.compile(r"\s+")
_NON_DIGIT = re.compile(r"\D")


def _remove_punctuation(value: str) -> str:
    # Unicode punctuation (P*) and symbols (S*), so "O'Neill", "Wilson." and "+44" all match
    # their bare forms, whatever quote or dash character was typed.
    return "".join(ch for ch in value if unicodedata.category(ch)[0] not in "PS")


NORMALIZATIONS: dict[str, Callable[[str], str]] = {
    "lowercase": str.lower,
    "strip": str.strip,
    "collapse_whitespace": lambda value: _WHITESPACE_RUN.sub(" ", value),
    "digits_only": lambda value: _NON_DIGIT.sub("", value),
    "remove_punctuation": _remove_punctuation,
}


@dataclass(frozen=True)
class EntityRule:
    """One rule, its columns resolved to positions: rows with equal keys are one entity."""

    id: str
    fields: tuple[str, ...]
    positions: tuple[int, ...]
    normalize: tuple[str, ...]
    keep: str

    @classmethod
    def from_arguments(cls, table: Table, number: int, rule: dict[str, Any]) -> EntityRule:
        fields = tuple(rule["fields"])
        return cls(
            id=rule.get("id") or f"rule_{number}",
            fields=fields,
            positions=tuple(table.column_index(name) for name in fields),
            normalize=tuple(rule.get("normalize", ())),
            keep=rule.get("keep", "first"),
        )

    def key(self, row: Sequence[str]) -> tuple[str, ...] | None:
        """The normalised values of the rule's fields, or None when any is empty (an empty
        value never matches: two customers without an email are not the same customer)."""
        values = []
        for position in self.positions:
            value = row[position]
            for name in self.normalize:
                value = NORMALIZATIONS[name](value)
            if not value.strip():
                return None
            values.append(value)
        return tuple(values)


class RowUnion:
    """Union-find over row indexes; the smallest index of a set is its root."""

    def __init__(self, size: int) -> None:
        self._parent = list(range(size))

    def find(self, index: int) -> int:
        while self._parent[index] != index:
            self._parent[index] = self._parent[self._parent[index]]
            index = self._parent[index]
        return index

    def union(self, first: int, second: int) -> bool:
        """Joins two sets; False when they were already one."""
        first_root, second_root = self.find(first), self.find(second)
        if first_root == second_root:
            return False
        low, high = sorted((first_root, second_root))
        self._parent[high] = low
        return True


@dataclass
class EntityGroup:
    """Rows found to be one entity, in file order, and the rules that linked them."""

    members: list[int]
    rule_positions: set[int] = field(default_factory=set)


@dataclass
class Resolution:
    groups: list[EntityGroup]  # groups of two or more rows, ordered by their first row
    links_by_rule: list[int]  # how many rows each rule joined to an existing group


def entities_resolve(table: Table, rules: Sequence[EntityRule]) -> Resolution:
    """Applies the rules in order; matches are transitive across rules (A~B by one rule and
    B~C by another make A, B and C one entity)."""
    union = RowUnion(len(table.rows))
    links: list[tuple[int, int]] = []  # (row, rule position) for each join that merged sets
    links_by_rule = [0] * len(rules)
    for position, rule in enumerate(rules):
        first_row_by_key: dict[tuple[str, ...], int] = {}
        for index, row in enumerate(table.rows):
            key = rule.key(row)
            if key is None:
                continue
            first = first_row_by_key.setdefault(key, index)
            if first != index and union.union(first, index):
                links.append((index, position))
                links_by_rule[position] += 1
    groups: dict[int, EntityGroup] = {}
    for index in range(len(table.rows)):
        groups.setdefault(union.find(index), EntityGroup(members=[])).members.append(index)
    for index, position in links:
        groups[union.find(index)].rule_positions.add(position)
    merged = [group for root, group in sorted(groups.items()) if len(group.members) > 1]
    return Resolution(groups=merged, links_by_rule=links_by_rule)


def group_kept_row(group: EntityGroup, rules: Sequence[EntityRule]) -> int:
    """The row a group keeps: `keep` of the earliest rule that linked it (first or last)."""
    keep = rules[min(group.rule_positions)].keep
    return group.members[-1] if keep == "last" else group.members[0]
