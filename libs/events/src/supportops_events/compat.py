"""Backward-compatibility rules between a released event schema and the current one.

Events evolve by adding fields only. Old consumers must read new events (they ignore
unknown fields) and new consumers must read old events (replays, slow partitions).
So, against every released JSON Schema of an event type, the current schema may not:

- drop the event type, move it to another topic or lower its version;
- remove a field;
- retype a field (other type or format, nullable added or removed, enum values
  removed, a different union);
- require a field that old events may not carry (new required field, or an optional
  field becoming required).

Adding optional fields and adding enum values are allowed. (A consumer still on an
old enum rejects a new value, so deploy consumers before producers emit it.)
Titles, descriptions, defaults and examples are documentation, not contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

EVENT_TYPE_KEY = "x-event-type"
VERSION_KEY = "x-event-version"
TOPIC_KEY = "x-topic"


class Rule(StrEnum):
    """A compatibility rule a change can break."""

    removed_event_type = "removed_event_type"
    topic_changed = "topic_changed"
    version_regressed = "version_regressed"
    removed_field = "removed_field"
    retyped_field = "retyped_field"
    new_required_field = "new_required_field"


@dataclass(frozen=True)
class Incompatibility:
    """One breaking difference between a released schema and the current one."""

    event_type: str
    version: int
    rule: Rule
    path: str
    """The dotted path of the field, or empty for the event type itself."""
    detail: str

    def __str__(self) -> str:
        where = f"{self.event_type} v{self.version}" + (f" {self.path}" if self.path else "")
        return f"{where}: {self.rule}: {self.detail}"


def check_catalog(
    released: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]
) -> list[Incompatibility]:
    """Every incompatibility of the current schemas against all released ones.

    Both sides are per-event JSON Schemas as written by the export, carrying the
    ``x-event-type``, ``x-event-version`` and ``x-topic`` keys.
    """
    by_type = {schema[EVENT_TYPE_KEY]: schema for schema in current}
    problems: list[Incompatibility] = []
    for old in released:
        event_type, version = old[EVENT_TYPE_KEY], old[VERSION_KEY]
        new = by_type.get(event_type)
        if new is None:
            problems.append(
                Incompatibility(
                    event_type, version, Rule.removed_event_type, "", "the event type is gone"
                )
            )
            continue
        problems.extend(check_schema(old, new))
    return problems


def check_schema(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Incompatibility]:
    """Every incompatibility of ``new`` against the released ``old`` schema of one event type."""
    event_type = str(old.get(EVENT_TYPE_KEY, new.get(EVENT_TYPE_KEY, "")))
    version = int(old.get(VERSION_KEY, 0))
    checker = _Checker(event_type, version, old, new)
    if old.get(TOPIC_KEY) != new.get(TOPIC_KEY):
        checker.report(
            Rule.topic_changed, "", f"topic {old.get(TOPIC_KEY)!r} became {new.get(TOPIC_KEY)!r}"
        )
    if int(new.get(VERSION_KEY, 0)) < version:
        checker.report(
            Rule.version_regressed, "", f"version {version} became {new.get(VERSION_KEY)}"
        )
    checker.compare(old, new, "")
    return checker.problems


@dataclass
class _Shape:
    """A schema node reduced to what matters for compatibility."""

    kind: str  # object | map | array | enum | union | const | any | <JSON type>
    nullable: bool
    node: Mapping[str, Any]
    variants: tuple[Mapping[str, Any], ...] = ()


class _Checker:
    def __init__(
        self,
        event_type: str,
        version: int,
        old_root: Mapping[str, Any],
        new_root: Mapping[str, Any],
    ) -> None:
        self.event_type = event_type
        self.version = version
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[Incompatibility] = []

    def report(self, rule: Rule, path: str, detail: str) -> None:
        self.problems.append(Incompatibility(self.event_type, self.version, rule, path, detail))

    def compare(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        before = _shape(old, self.old_root)
        after = _shape(new, self.new_root)
        if before.nullable != after.nullable:
            change = "became nullable" if after.nullable else "is no longer nullable"
            self.report(Rule.retyped_field, path, change)
        if before.kind != after.kind:
            self.report(Rule.retyped_field, path, f"{before.kind} became {after.kind}")
            return
        match before.kind:
            case "object":
                self._compare_fields(before.node, after.node, path)
            case "map":
                self.compare(
                    _resolve(before.node["additionalProperties"], self.old_root),
                    _resolve(after.node["additionalProperties"], self.new_root),
                    f"{path}.*",
                )
            case "array":
                self.compare(
                    _resolve(before.node.get("items", {}), self.old_root),
                    _resolve(after.node.get("items", {}), self.new_root),
                    f"{path}[]",
                )
            case "enum":
                removed = [v for v in before.node["enum"] if v not in after.node["enum"]]
                if removed:
                    self.report(Rule.retyped_field, path, f"enum values removed: {removed}")
            case "const":
                if before.node["const"] != after.node["const"]:
                    self.report(Rule.retyped_field, path, "constant changed")
            case "union":
                old_variants = sorted(_signature(v, self.old_root) for v in before.variants)
                new_variants = sorted(_signature(v, self.new_root) for v in after.variants)
                if old_variants != new_variants:
                    self.report(Rule.retyped_field, path, "union variants changed")
            case "any":
                pass
            case _:
                if before.node.get("format") != after.node.get("format"):
                    self.report(
                        Rule.retyped_field,
                        path,
                        f"format {before.node.get('format')!r} became {after.node.get('format')!r}",
                    )

    def _compare_fields(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        old_fields: Mapping[str, Any] = old.get("properties", {})
        new_fields: Mapping[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        for name, old_field in old_fields.items():
            field_path = f"{path}.{name}" if path else name
            if name not in new_fields:
                self.report(Rule.removed_field, field_path, "the field is gone")
                continue
            self.compare(old_field, new_fields[name], field_path)
        for name in new.get("required", ()):
            if name in old_required:
                continue
            field_path = f"{path}.{name}" if path else name
            detail = (
                "optional field became required" if name in old_fields else "new required field"
            )
            self.report(Rule.new_required_field, field_path, detail)


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref`` pointers (``#/$defs/Name``) to the schema they name."""
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _shape(node: Mapping[str, Any], root: Mapping[str, Any]) -> _Shape:
    node = _resolve(node, root)
    variants_key = "anyOf" if "anyOf" in node else "oneOf" if "oneOf" in node else None
    if variants_key is not None:
        variants = [_resolve(v, root) for v in node[variants_key]]
        others = tuple(v for v in variants if v.get("type") != "null")
        nullable = len(others) < len(variants)
        if len(others) == 1:
            inner = _shape(others[0], root)
            return _Shape(inner.kind, nullable or inner.nullable, inner.node, inner.variants)
        return _Shape("union", nullable, node, others)
    if "allOf" in node and len(node["allOf"]) == 1:
        return _shape(node["allOf"][0], root)
    json_type = node.get("type")
    nullable = False
    if isinstance(json_type, list):
        types = [t for t in json_type if t != "null"]
        nullable = len(types) < len(json_type)
        json_type = types[0] if len(types) == 1 else "|".join(sorted(types))
    if "enum" in node:
        return _Shape("enum", nullable, node)
    if "const" in node:
        return _Shape("const", nullable, node)
    if json_type == "object" or "properties" in node:
        if "properties" not in node and isinstance(node.get("additionalProperties"), Mapping):
            return _Shape("map", nullable, node)
        return _Shape("object", nullable, node)
    if json_type is None:
        return _Shape("any", nullable, node)
    return _Shape(str(json_type), nullable, node)


_DOCUMENTATION_KEYS = frozenset({"title", "description", "default", "examples", "deprecated"})


def _signature(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """A canonical text of a schema node, refs inlined and documentation dropped."""

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            resolved = _resolve(value, root)
            return {
                key: strip(item)
                for key, item in sorted(resolved.items())
                if key not in _DOCUMENTATION_KEYS and key != "$defs"
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return json.dumps(strip(node), sort_keys=True)
