"""The BOLA (broken object-level authorization) harness: probes generated from a service's
OpenAPI document, seeded tenants, and the checks that decide a breach.

How it works (docs/security.md, "Authorization model"):

- Every operation of ``app.openapi()`` whose path, query or JSON body takes an id of a
  kind the service's seed has data of (``ticket_id`` -> ticket, ``tenant_id`` -> tenant,
  ``linked_tickets[].ticket_id`` -> ticket…) is probed. Nothing lists today's endpoints:
  a new endpoint is probed as soon as it is in the document.
- A probe is one request with a token confined to the *attacker* tenant, of one role, in
  which one id position (or all of them) names the *victim's* record and every other
  position names the attacker's own. Bodies are generated from the operation's schema.
- A breach is a 2xx whose body shows any of the victim's ids; every refusal must be an
  RFC 9457 problem (``application/problem+json`` with its ``status``), never a 5xx; and the
  victim's rows (every table with a ``tenant_id``, rows referencing them, and the outbox
  of its events) must be the same after all probes as before.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import MetaData, Table, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from servicekit.db import Database
from servicekit.tables import outbox
from servicekit.testing import token

ROLES = ("agent", "billing", "onboarding", "qa", "admin", "service")
METHODS = ("get", "post", "put", "patch", "delete")

# How a field name names a kind: ``stripe_charge_id`` -> charge, ``into_bug_id`` -> bug,
# ``affected_tenants`` -> tenant, ``other_bug_id`` -> bug. A name none of these rules maps
# is not a tenant's id.
_KIND_PREFIXES = ("stripe_", "into_", "linked_", "affected_", "other_")


def kind_of(name: str) -> str | None:
    leaf = name.rsplit(".", 1)[-1].removesuffix("[]")
    for suffix in ("_ids", "_id", "s"):
        if leaf.endswith(suffix) and leaf not in ("id", "ids"):
            leaf = leaf.removesuffix(suffix)
            break
    else:
        return None
    for prefix in _KIND_PREFIXES:
        leaf = leaf.removeprefix(prefix)
    return leaf or None


@dataclass
class Tenant:
    """One seeded tenant: its ids per kind (``ids["ticket"] = [...]``) and every string
    that marks its data (ids, e-mails) for the leak check."""

    tenant_id: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)

    def add(self, kind: str, value: str) -> str:
        self.ids.setdefault(kind, []).append(value)
        self.markers.add(value)
        return value

    def one(self, kind: str, record: int = 0) -> str:
        if kind == "tenant":
            return self.tenant_id
        return self.ids[kind][record]


@dataclass(frozen=True)
class Position:
    """Where an operation takes an id: ``path``/``query`` parameter or ``body`` field."""

    location: str
    name: str
    kind: str
    many: bool = False


@dataclass
class Operation:
    method: str
    path: str
    positions: list[Position]
    params: list[dict[str, Any]]
    body_schema: dict[str, Any] | None
    headers: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass
class Probe:
    operation: Operation
    role: str
    victim_at: tuple[Position, ...]
    attacker: Tenant
    victim: Tenant
    record: int = 0
    """Which of the victim's records of the kind (every one is probed)."""


@dataclass
class Finding:
    probe: Probe
    status: int
    why: str
    body: str

    def __str__(self) -> str:
        where = ", ".join(f"{p.location} {p.name}" for p in self.probe.victim_at)
        return (
            f"{self.probe.operation.label} as {self.probe.role} (victim's id in {where}): "
            f"{self.status} {self.why}: {self.body[:300]}"
        )


@dataclass
class Report:
    probes: int = 0
    findings: list[Finding] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    operations: set[str] = field(default_factory=set)
    positions: set[tuple[str, str, str]] = field(default_factory=set)
    """``(operation label, location, name)`` of every id position a victim's id was sent at."""


class Schema:
    """An OpenAPI document's schemas, with ``$ref`` resolved and minimal valid instances."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def options(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                found = [self.resolve(s) for s in schema[key]]
                return [s for s in found if s.get("type") != "null"] or found
        return [schema]

    def positions(self, schema: dict[str, Any], prefix: str = "") -> Iterator[Position]:
        """Id fields of a body, nested objects and lists of objects included."""
        for option in self.options(schema):
            for name, sub in option.get("properties", {}).items():
                dotted = f"{prefix}{name}"
                kind = kind_of(name)
                inner = self.options(sub)[0]
                if inner.get("type") == "array":
                    item = self.options(inner.get("items", {}))[0]
                    if item.get("type") == "object" or "properties" in item:
                        yield from self.positions(item, f"{dotted}[].")
                    elif kind:
                        yield Position("body", dotted, kind, many=True)
                elif inner.get("type") == "object" or "properties" in inner:
                    yield from self.positions(inner, f"{dotted}.")
                elif kind:
                    yield Position("body", dotted, kind)

    def instance(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        """A small valid value: required fields only, the first enum member, minimums."""
        option = self.options(schema)[0]
        if "const" in option:
            return option["const"]
        if "enum" in option:
            return option["enum"][0]
        if "default" in option and option["default"] is not None and depth > 0:
            return option["default"]
        if option.get("examples"):
            return option["examples"][0]
        kind = option.get("type")
        if kind == "object" or "properties" in option:
            required = option.get("required", [])
            return {
                key: self.instance(sub, key, depth + 1)
                for key, sub in option.get("properties", {}).items()
                if key in required
            }
        if kind == "array":
            count = option.get("minItems", 0)
            return [self.instance(option.get("items", {}), name, depth + 1) for _ in range(count)]
        if kind == "integer" or kind == "number":
            low = option.get("minimum", option.get("exclusiveMinimum", 0) + 1)
            return max(1, int(low))
        if kind == "boolean":
            return False
        return _string(name, option)


def _string(name: str, option: dict[str, Any]) -> str:
    fmt = option.get("format")
    if fmt == "email" or "email" in name:
        return "pat@example.com"
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return datetime.now(UTC).isoformat()
    if fmt == "date":
        return datetime.now(UTC).date().isoformat()
    pattern = option.get("pattern")
    low = int(option.get("minLength", 1))
    candidates = ["x" * max(low, 1), "probe", "a-1", "probe-1", "ab12", "en-GB", "Probe 1"]
    if pattern:
        for candidate in candidates:
            if re.search(pattern, candidate):
                return candidate
    return candidates[0] if len(candidates[0]) >= low else "x" * low


def operations(
    app: FastAPI,
    kinds: set[str],
    declared: dict[str, dict[tuple[str, str], str]] | None = None,
) -> list[Operation]:
    """Every operation of the app's OpenAPI document taking an id of a seeded kind. A path
    or query parameter's kind is what its route declares (``declared["GET /x/{a_id}"]
    [("path", "a_id")]``, e.g. ``request_id`` -> ``access_request``), else guessed from its
    name."""
    document = app.openapi()
    schema = Schema(document)
    found: list[Operation] = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            named = (declared or {}).get(f"{method.upper()} {path}", {})
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            positions = [
                Position(p["in"], p["name"], kind)
                for p in params
                if (kind := named.get((p["in"], p["name"])) or kind_of(p["name"])) in kinds
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            body_schema = body.get("schema") if body else None
            if body_schema is not None:
                positions += [p for p in schema.positions(body_schema) if p.kind in kinds]
            if positions:
                headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
                found.append(Operation(method, path, positions, params, body_schema, headers))
    return found


class Prober:
    """Sends the probes of one service and judges them."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        *,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.app = app
        self.schema = Schema(app.openapi())
        self.overrides = overrides or {}
        self.etags: dict[str, str] = {}
        self.staff = {"Authorization": f"Bearer {token('admin', subject='bola-staff')}"}

    def probes(self, tenants: list[Tenant], operation: Operation) -> Iterator[Probe]:
        for attacker in tenants:
            for victim in tenants:
                if victim is attacker:
                    continue
                choices: list[tuple[Position, ...]] = [(p,) for p in operation.positions]
                if len(operation.positions) > 1:
                    choices.append(tuple(operation.positions))
                for role in ROLES:
                    for victim_at in choices:
                        records = 1
                        if len(victim_at) == 1 and victim_at[0].kind != "tenant":
                            records = len(victim.ids.get(victim_at[0].kind, [None]))
                        for record in range(records):
                            yield Probe(operation, role, victim_at, attacker, victim, record)

    def request(self, probe: Probe) -> dict[str, Any]:
        op = probe.operation

        def value(position: Position) -> Any:
            if position in probe.victim_at:
                one = probe.victim.one(position.kind, probe.record)
            else:
                one = probe.attacker.one(position.kind)
            return [one] if position.many else one

        path = op.path
        query: dict[str, Any] = {}
        for param in op.params:
            position = next(
                (p for p in op.positions if p.location == param["in"] and p.name == param["name"]),
                None,
            )
            if position is not None:
                found = value(position)
            elif param["in"] == "path" or param.get("required"):
                found = self.overrides.get(param["name"]) or self.schema.instance(
                    param.get("schema", {}), param["name"]
                )
            else:
                continue
            if param["in"] == "path":
                path = path.replace("{" + param["name"] + "}", str(found))
            else:
                query[param["name"]] = found
        body: Any = None
        if op.body_schema is not None:
            body = self.schema.instance(op.body_schema)
            for key, fixed in self.overrides.items():
                if isinstance(body, dict) and key in _property_names(self.schema, op.body_schema):
                    body[key] = fixed
            for position in op.positions:
                if position.location == "body":
                    body = _set(body, position.name.split("."), value(position))
        headers = {"Authorization": f"Bearer {self._token(probe)}"}
        names = {h["name"].lower() for h in op.headers}
        if "idempotency-key" in names:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if "if-match" in names:
            headers["If-Match"] = self.etags.get(path, "*")
        return {
            "method": op.method.upper(),
            "url": path,
            "params": query,
            "json": body,
            "headers": headers,
        }

    def _token(self, probe: Probe) -> str:
        return token(
            probe.role,
            tenant_id=probe.attacker.tenant_id,
            subject="pat@example.com",
        )

    async def current_etag(self, path: str) -> None:
        """The resource's real ETag (read by staff), so a probe that gets past the check
        is not stopped by a stale If-Match instead."""
        if path not in self.etags:
            read = await self.client.get(path, headers=self.staff)
            self.etags[path] = read.headers.get("ETag", "*")

    async def run(self, tenants: list[Tenant], ops: list[Operation], report: Report) -> None:
        for operation in ops:
            report.operations.add(operation.label)
            for probe in self.probes(tenants, operation):
                request = self.request(probe)
                if "If-Match" in request["headers"]:
                    await self.current_etag(request["url"])
                    request = self.request(probe)
                response = await self.client.request(**request)
                report.probes += 1
                report.positions |= {(operation.label, p.location, p.name) for p in probe.victim_at}
                report.statuses[response.status_code] = (
                    report.statuses.get(response.status_code, 0) + 1
                )
                finding = judge(probe, response)
                if finding is not None:
                    report.findings.append(finding)


def _property_names(schema: Schema, body: dict[str, Any]) -> set[str]:
    return {name for option in schema.options(body) for name in option.get("properties", {})}


def _set(node: Any, parts: list[str], value: Any) -> Any:
    """Sets ``a.b`` / ``items[].x`` in a generated body, creating what is missing (a list
    gets one item)."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    node = node if isinstance(node, dict) else {}
    if head.endswith("[]"):
        key = head.removesuffix("[]")
        items = node.get(key) or [{}]
        node[key] = [_set(item, rest, value) for item in items]
    else:
        node[head] = _set(node.get(head), rest, value)
    return node


def judge(probe: Probe, response: httpx.Response) -> Finding | None:
    status = response.status_code
    text = response.text
    if status >= 500:
        return Finding(probe, status, "a server error", text)
    if 200 <= status < 300:
        leaked = sorted(m for m in probe.victim.markers if m in text)
        if leaked:
            return Finding(probe, status, f"the victim's data in a 2xx: {leaked[:3]}", text)
        return None
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return Finding(probe, status, "a refusal that is not a problem document", text)
    try:
        body = response.json()
    except ValueError:
        return Finding(probe, status, "a problem that is not JSON", text)
    if body.get("status") != status or not str(body.get("type", "")).startswith("http"):
        return Finding(probe, status, "a problem without its status and type", text)
    return None


async def snapshot(db: Database, metadata: MetaData, tenant_id: str) -> dict[str, list[str]]:
    """Every row of the tenant: tables with a ``tenant_id`` (``tenants`` by its id), rows
    referencing those, and the outbox of its events (key = tenant)."""
    owned: dict[str, Table] = {}
    rows: dict[str, list[str]] = {}
    async with db.unit_of_work() as session:
        for table in metadata.sorted_tables:
            column = table.c.get("tenant_id")
            if column is None and table.name == "tenants":
                column = table.c.get("id")
            if column is None:
                continue
            owned[table.name] = table
            rows[table.name] = await _rows(
                session, select(table).where(cast(column, String) == tenant_id)
            )
        for table in metadata.sorted_tables:
            if table.name in owned:
                continue
            for fk in table.foreign_keys:
                parent = fk.column.table
                if parent.name not in owned:
                    continue
                parent_tenant = parent.c.get("tenant_id")
                if parent_tenant is None:
                    parent_tenant = parent.c.id
                parents = select(fk.column).where(cast(parent_tenant, String) == tenant_id)
                rows[f"{table.name}.{fk.parent.name}"] = await _rows(
                    session, select(table).where(fk.parent.in_(parents))
                )
        rows["outbox"] = await _rows(
            session,
            select(outbox.c.event_type, outbox.c.payload).where(outbox.c.key == tenant_id),
        )
    return rows


async def _rows(session: AsyncSession, statement: Any) -> list[str]:
    result = await session.execute(statement)
    return sorted(repr(tuple(row)) for row in result.all())


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
