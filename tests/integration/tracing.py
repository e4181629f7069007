"""The real trace backends of a local stack, started by a test as a user would: Jaeger
(``deploy/local/jaeger.sh``, OTLP in, query API out) and Zipkin (``deploy/local/zipkin.sh``,
fed from Jaeger over Kafka, the trace UI), each with its own state dir and free ports, and
read back through their own HTTP APIs.

:class:`JaegerTraces` answers the questions the journeys ask of the in-test collector
(``otlp.TraceCollector``: ``spans``, ``services_in``, ``names_in``, ``missing``), from
Jaeger's query API, so ``Journey.assert_one_trace`` works unchanged against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from stack import ROOT

from servicekit.testing import KAFKA_BOOTSTRAP, topic_prefix

LOCAL = ROOT / "deploy" / "local"


@dataclass(frozen=True)
class TraceSpan:
    """One span as a trace backend reports it (kinds lower case: server, consumer, ...)."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str | None
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def jaeger_spans(payload: dict[str, Any]) -> list[TraceSpan]:
    """The spans of ``GET /api/traces/<id>`` (Jaeger's JSON: processes, references, tags)."""
    out: list[TraceSpan] = []
    for trace in payload.get("data") or []:
        processes = trace.get("processes") or {}
        for span in trace.get("spans") or []:
            tags = {str(t["key"]): str(t.get("value")) for t in span.get("tags") or []}
            parent = next(
                (
                    r["spanID"]
                    for r in span.get("references") or []
                    if r.get("refType") == "CHILD_OF" and r.get("traceID") == span["traceID"]
                ),
                None,
            )
            out.append(
                TraceSpan(
                    service=str(processes.get(span.get("processID"), {}).get("serviceName")),
                    name=str(span["operationName"]),
                    trace_id=str(span["traceID"]).rjust(32, "0"),
                    span_id=str(span["spanID"]).rjust(16, "0"),
                    parent_span_id=str(parent).rjust(16, "0") if parent else None,
                    kind=tags.get("span.kind"),
                    tags=tags,
                )
            )
    return out


def zipkin_spans(payload: list[dict[str, Any]]) -> list[TraceSpan]:
    """The spans of ``GET /api/v2/trace/<id>`` (Zipkin v2 JSON)."""
    return [
        TraceSpan(
            service=str((span.get("localEndpoint") or {}).get("serviceName")),
            name=str(span.get("name")),
            trace_id=str(span["traceId"]).rjust(32, "0"),
            span_id=str(span["id"]).rjust(16, "0"),
            parent_span_id=str(span["parentId"]).rjust(16, "0") if span.get("parentId") else None,
            kind=str(span["kind"]).lower() if span.get("kind") else None,
            tags={str(k): str(v) for k, v in (span.get("tags") or {}).items()},
        )
        for span in payload
    ]


class JaegerTraces:
    """A journey's view of traces, read from a real Jaeger's query API."""

    def __init__(self, query_url: str) -> None:
        self.query_url = query_url

    def spans(self, trace_id: str | None = None) -> list[TraceSpan]:
        assert trace_id is not None, "Jaeger is asked for one trace at a time"
        response = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if response.status_code == 404:  # nothing of that trace stored (yet)
            return []
        response.raise_for_status()
        return jaeger_spans(response.json())

    def services_in(self, trace_id: str) -> set[str]:
        return {s.service for s in self.spans(trace_id)}

    def names_in(self, trace_id: str, service: str) -> list[str]:
        return [s.name for s in self.spans(trace_id) if s.service == service]

    def missing(self, trace_id: str, services: Iterable[str]) -> set[str]:
        return set(services) - self.services_in(trace_id)


def zipkin_trace(ui_url: str, trace_id: str) -> list[TraceSpan]:
    response = httpx.get(f"{ui_url}/api/v2/trace/{trace_id}", timeout=10)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return zipkin_spans(response.json())


def broken_links(spans: list[TraceSpan]) -> list[str]:
    """Spans whose parent is not in the trace, except the requests the journey made (a
    server span's parent is the journey's own, unrecorded client span): a consumer that
    lost its producer's context, or a producer that lost its request's, shows up here."""
    ids = {s.span_id for s in spans}
    return [
        f"{s.service}: {s.name} ({s.kind}) -> missing parent {s.parent_span_id}"
        for s in spans
        if s.parent_span_id and s.parent_span_id not in ids and s.kind != "server"
    ]


def ancestors(spans: list[TraceSpan], span: TraceSpan) -> list[TraceSpan]:
    """The parent, its parent, ... as far as the trace has them."""
    by_id = {s.span_id: s for s in spans}
    chain: list[TraceSpan] = []
    current = span
    while current.parent_span_id and current.parent_span_id in by_id:
        current = by_id[current.parent_span_id]
        chain.append(current)
        if len(chain) > 1000:  # a cycle would be a backend bug; do not loop forever
            break
    return chain


def script_env(
    state_dir: Path, ports: dict[str, int], prefix: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """What a user sets for a second stack's traces: its state dir, ports, broker and
    topic prefix; none of this session's own collector or trace settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SUPPORTOPS_JAEGER_", "SUPPORTOPS_ZIPKIN"))
        and k not in {"SUPPORTOPS_STATE_DIR", "KAFKA_TOPIC_PREFIX"}
    }
    env.update(
        {
            "SUPPORTOPS_STATE_DIR": str(state_dir),
            "SUPPORTOPS_JAEGER_UI_PORT": str(ports["jaeger_ui"]),
            "SUPPORTOPS_JAEGER_OTLP_GRPC_PORT": str(ports["otlp_grpc"]),
            "SUPPORTOPS_JAEGER_OTLP_HTTP_PORT": str(ports["otlp_http"]),
            "SUPPORTOPS_JAEGER_QUERY_GRPC_PORT": str(ports["query_grpc"]),
            "SUPPORTOPS_JAEGER_HEALTH_PORT": str(ports["health"]),
            "SUPPORTOPS_ZIPKIN_PORT": str(ports["zipkin"]),
            # a JVM on a busy 2-core machine
            "SUPPORTOPS_ZIPKIN_START_TIMEOUT": "240",
            "KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP,
            "KAFKA_TOPIC_PREFIX": prefix,
            **(extra or {}),
        }
    )
    return env


@dataclass
class TraceBackends:
    """Jaeger and (optionally) Zipkin of one test, in their own state dir."""

    state_dir: Path
    ports: dict[str, int]
    prefix: str = field(default_factory=topic_prefix)  # issued: deleted at session end
    outputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls, ports: list[int]) -> TraceBackends:
        names = ["jaeger_ui", "otlp_grpc", "otlp_http", "query_grpc", "health", "zipkin"]
        return cls(
            state_dir=Path(tempfile.mkdtemp(prefix="supportops-traces-")),
            ports=dict(zip(names, ports, strict=True)),
        )

    @property
    def jaeger_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['jaeger_ui']}"

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_http']}"

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['zipkin']}"

    @property
    def topic(self) -> str:
        return f"{self.prefix}zipkin"

    def env(self) -> dict[str, str]:
        return script_env(self.state_dir, self.ports, self.prefix)

    def run(self, script: str, action: str, *, timeout: float = 300) -> str:
        t0 = time.monotonic()
        done = subprocess.run(
            [str(LOCAL / script), action],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        self.outputs[f"{script} {action}"] = output
        self.timings[f"{script} {action}"] = round(time.monotonic() - t0, 1)
        assert done.returncode == 0, (
            f"{script} {action} failed ({done.returncode}):\n{output}\n{self.log_tail(script)}"
        )
        return output

    def log_tail(self, script: str, lines: int = 40) -> str:
        log = self.state_dir / "logs" / f"{script.removesuffix('.sh')}.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """What `make down` runs for them (both, even when one fails); then the state dir
        goes."""
        failures = []
        for script in ("zipkin.sh", "jaeger.sh"):
            try:
                self.run(script, "stop", timeout=60)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                failures.append(str(exc))
        if not failures:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        assert not failures, failures
