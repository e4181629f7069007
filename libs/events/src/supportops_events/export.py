"""Generates the committed contract files: one JSON Schema per event type and AsyncAPI 3.0.

    uv run python -m supportops_events.export            # write the files
    uv run python -m supportops_events.export --check    # exit 1 if stale or breaking
    uv run python -m supportops_events.export --release  # snapshot unreleased versions

Files, relative to the repository root:

- ``libs/events/schemas/<type>.v<version>.json``: the current schema of each type;
- ``libs/events/schemas/released/<type>.v<version>.json``: released snapshots, never
  rewritten; the current schemas must stay compatible with all of them;
- ``docs/asyncapi.yaml``: every topic, message and payload.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from pydantic.json_schema import models_json_schema

from supportops_events import _yaml
from supportops_events.base import Event
from supportops_events.catalog import EventRegistry, registry
from supportops_events.compat import (
    EVENT_TYPE_KEY,
    TOPIC_KEY,
    VERSION_KEY,
    Incompatibility,
    check_catalog,
)
from supportops_events.envelope import (
    CAUSATIONID,
    CE_PREFIX,
    CONTENT_TYPE_HEADER,
    CORRELATIONID,
    DATACONTENTTYPE,
    DATAVERSION,
    SPECVERSION,
    TENANTID,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
)

SCHEMAS_DIR: Final = Path("libs/events/schemas")
RELEASED_DIR: Final = SCHEMAS_DIR / "released"
ASYNCAPI_PATH: Final = Path("docs/asyncapi.yaml")

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION: Final = "0.5.0"
HEADERS_SCHEMA: Final = "CloudEventsKafkaHeaders"


# --- JSON Schema ----------------------------------------------------------------------


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def event_schema(model: type[Event]) -> dict[str, Any]:
    """The JSON Schema of one event type's data, with its catalog identity."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:supportops:event:{model.event_type}:v{model.version}",
        EVENT_TYPE_KEY: model.event_type,
        VERSION_KEY: model.version,
        TOPIC_KEY: model.topic,
        "x-producer": model.producer,
        **model.model_json_schema(mode="validation"),
    }


def _json_text(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_schemas(catalog: EventRegistry = registry) -> dict[Path, str]:
    """The current schema file of every event type, by path from the repository root."""
    return {
        SCHEMAS_DIR / schema_file_name(model.event_type, model.version): _json_text(
            event_schema(model)
        )
        for model in catalog.models()
    }


# --- AsyncAPI -------------------------------------------------------------------------


def _message_id(event_type: str) -> str:
    # AsyncAPI ids are [A-Za-z0-9_-]; the dotted wire name goes in the message's `name`.
    return event_type.replace(".", "_")


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def _headers_schema() -> dict[str, Any]:
    def text(description: str, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **extra}

    properties = {
        f"{CE_PREFIX}specversion": text("CloudEvents version.", const=SPECVERSION),
        f"{CE_PREFIX}id": text("Unique event id; consumers deduplicate on it."),
        f"{CE_PREFIX}source": text("The producing service, e.g. `billing-service`."),
        f"{CE_PREFIX}type": text("The event type, e.g. `invoice.paid`."),
        f"{CE_PREFIX}time": text("When it happened (RFC 3339, UTC).", format="date-time"),
        f"{CE_PREFIX}subject": text("The main entity id, e.g. the invoice id."),
        CONTENT_TYPE_HEADER: text("Media type of the body.", const=DATACONTENTTYPE),
        f"{CE_PREFIX}{TENANTID}": text("The tenant; equals the record key and `tenant_id`."),
        f"{CE_PREFIX}{CORRELATIONID}": text("Id shared by every event of one business flow."),
        f"{CE_PREFIX}{CAUSATIONID}": text("Id of the event (or request) that caused this one."),
        f"{CE_PREFIX}{DATAVERSION}": text("Version of the data schema (an integer)."),
        TRACEPARENT_HEADER: text("W3C trace context."),
        TRACESTATE_HEADER: text("W3C trace state."),
    }
    required = [
        f"{CE_PREFIX}{name}"
        for name in ("specversion", "id", "source", "type", "time", TENANTID, CORRELATIONID)
    ] + [CONTENT_TYPE_HEADER, f"{CE_PREFIX}{DATAVERSION}"]
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode.",
        "properties": properties,
        "required": required,
    }


def asyncapi_document(catalog: EventRegistry = registry) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and event type of ``catalog``."""
    models = catalog.models()
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {HEADERS_SCHEMA: _headers_schema(), **definitions["$defs"]}

    messages: dict[str, Any] = {}
    for model in models:
        messages[_message_id(model.event_type)] = {
            "name": model.event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or model.event_type).strip().splitlines()[0],
            "contentType": DATACONTENTTYPE,
            "correlationId": {"$ref": "#/components/correlationIds/correlation"},
            "headers": {
                "allOf": [
                    {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                    {
                        "type": "object",
                        "properties": {
                            f"{CE_PREFIX}type": {"const": model.event_type},
                            f"{CE_PREFIX}{DATAVERSION}": {"const": str(model.version)},
                        },
                    },
                ]
            },
            "payload": refs[(model, "validation")],
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The tenant id."},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "x-producer": model.producer,
            "x-data-version": model.version,
        }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in catalog.topics():
        channel_id = _channel_id(topic)
        event_types = catalog.event_types_on(topic)
        producers = sorted({catalog.model_for(t).producer for t in event_types})
        is_commands = topic.endswith(".commands")
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": (
                f"Commands for {topic.removesuffix('.commands')}-service"
                if is_commands
                else f"Events of {', '.join(producers)}"
            )
            + "; key = tenant id, so order per tenant is kept.",
            "messages": {
                _message_id(t): {"$ref": f"#/components/messages/{_message_id(t)}"}
                for t in event_types
            },
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Published by {' and '.join(producers)} through its outbox relay.",
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{_message_id(t)}"} for t in event_types
            ],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "supportops events",
            "version": _package_version(),
            "description": (
                "Every Kafka topic and event of supportops. Events are CloudEvents 1.0 in "
                "Kafka binary mode: attributes in `ce_*` headers, the body is the event "
                "data as JSON, the key is the tenant id. Each consumer group has a "
                "dead-letter topic `<group>.dlq`. Generated by "
                "`python -m supportops_events.export`; do not edit."
            ),
        },
        "defaultContentType": DATACONTENTTYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "Local single-node Kafka (override with KAFKA_BOOTSTRAP_SERVERS).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "correlation": {
                    "description": "Shared by every event of one business flow.",
                    "location": f"$message.header#/{CE_PREFIX}{CORRELATIONID}",
                }
            },
        },
    }


def _package_version() -> str:
    try:
        return metadata.version("supportops-events")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def render_asyncapi(catalog: EventRegistry = registry) -> str:
    header = "# Generated by `python -m supportops_events.export`; do not edit.\n"
    return header + _yaml.dump(asyncapi_document(catalog))


# --- files ----------------------------------------------------------------------------


def generated_files(catalog: EventRegistry = registry) -> dict[Path, str]:
    """Every generated file, by path from the repository root."""
    return {**render_schemas(catalog), ASYNCAPI_PATH: render_asyncapi(catalog)}


@dataclass
class Staleness:
    missing: list[Path] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)
    orphaned: list[Path] = field(default_factory=list)
    """Schema files no event type produces any more (e.g. after a version bump)."""

    def __bool__(self) -> bool:
        return bool(self.missing or self.changed or self.orphaned)

    def lines(self) -> list[str]:
        return (
            [f"missing:  {path}" for path in self.missing]
            + [f"stale:    {path}" for path in self.changed]
            + [f"orphaned: {path}" for path in self.orphaned]
        )


def find_stale(root: Path, catalog: EventRegistry = registry) -> Staleness:
    """How the committed files under ``root`` differ from what the catalog generates."""
    expected = generated_files(catalog)
    staleness = Staleness()
    for path, text in sorted(expected.items()):
        target = root / path
        if not target.exists():
            staleness.missing.append(path)
        elif target.read_text(encoding="utf-8") != text:
            staleness.changed.append(path)
    for existing in sorted((root / SCHEMAS_DIR).glob("*.json")):
        path = existing.relative_to(root)
        if path not in expected:
            staleness.orphaned.append(path)
    return staleness


def write(root: Path, catalog: EventRegistry = registry) -> list[Path]:
    """Write every generated file under ``root``, remove orphans; return what changed."""
    staleness = find_stale(root, catalog)
    for path, text in generated_files(catalog).items():
        if path in staleness.missing or path in staleness.changed:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for path in staleness.orphaned:
        (root / path).unlink()
    return staleness.missing + staleness.changed + staleness.orphaned


def load_released(root: Path) -> list[dict[str, Any]]:
    """Every released snapshot under ``root``."""
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / RELEASED_DIR).glob("*.json"))
    ]


def breaking_changes(root: Path, catalog: EventRegistry = registry) -> list[Incompatibility]:
    """Incompatibilities of the current catalog against the released snapshots."""
    current = [event_schema(model) for model in catalog.models()]
    return check_catalog(load_released(root), current)


def release(root: Path, catalog: EventRegistry = registry) -> list[Path]:
    """Snapshot every current schema whose version has no released snapshot yet.

    Existing snapshots are never rewritten: once released, a version is frozen.
    """
    written: list[Path] = []
    for model in catalog.models():
        path = RELEASED_DIR / schema_file_name(model.event_type, model.version)
        target = root / path
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_json_text(event_schema(model)), encoding="utf-8")
        written.append(path)
    return written


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest directory holding ``libs/events``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "libs" / "events" / "pyproject.toml").is_file():
            return candidate
    # Running from an editable install outside the repository: go by this file's place.
    return Path(__file__).resolve().parents[4]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m supportops_events.export",
        description="Write the event JSON Schemas and docs/asyncapi.yaml.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing stale files and breaking changes",
    )
    action.add_argument(
        "--release",
        action="store_true",
        help="also snapshot current versions that are not released yet",
    )
    parser.add_argument("--root", type=Path, help="repository root (default: found from cwd)")
    args = parser.parse_args(argv)
    root: Path = args.root or find_root()

    stale = False
    if args.check:
        staleness = find_stale(root)
        stale = bool(staleness)
        report = staleness.lines()
        if stale:
            report.append("run `make schemas` to regenerate")
    else:
        report = [f"wrote {path}" for path in write(root)]
        if args.release:
            report += [f"released {path}" for path in release(root)]
    breaking = breaking_changes(root)
    report += [f"breaking: {problem}" for problem in breaking]
    if breaking:
        report.append(
            "released schemas must stay compatible: add fields as optional (with a "
            "default) instead of changing or removing released ones (docs/events.md)"
        )
    sys.stdout.write("".join(f"{line}\n" for line in report))
    return 1 if breaking or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
