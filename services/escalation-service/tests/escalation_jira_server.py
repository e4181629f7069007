"""A local stand-in for Jira Cloud that checks each request against Jira's documented shape.

POST /rest/api/3/issue (REST v3): basic auth with email:API token, JSON body with
``fields.project.key``, ``fields.issuetype`` (name or id), ``fields.summary`` (one line,
at most 255 characters) and ``fields.description`` as an Atlassian Document Format doc.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# ADF: which node types may hold which children (the subset a bug report needs).
ADF_CHILDREN: dict[str, set[str]] = {
    "doc": {"paragraph", "heading", "orderedList", "bulletList", "codeBlock", "rule"},
    "paragraph": {"text", "hardBreak"},
    "heading": {"text"},
    "orderedList": {"listItem"},
    "bulletList": {"listItem"},
    "listItem": {"paragraph", "orderedList", "bulletList", "codeBlock"},
    "codeBlock": {"text"},
}
ADF_MARKS = {"strong", "em", "code", "link", "strike", "underline"}


def adf_errors(node: Any, path: str = "description") -> list[str]:
    """What is wrong with an ADF document (empty when it is valid)."""
    if not isinstance(node, dict):
        return [f"{path}: not an object"]
    errors: list[str] = []
    node_type = node.get("type")
    if path == "description" and (node_type != "doc" or node.get("version") != 1):
        errors.append(f"{path}: the root must be a doc of version 1")
    if node_type == "text":
        if not isinstance(node.get("text"), str) or not node["text"]:
            errors.append(f"{path}: text nodes need non-empty text")
        for mark in node.get("marks", []):
            if mark.get("type") not in ADF_MARKS:
                errors.append(f"{path}: unknown mark {mark.get('type')}")
            if mark.get("type") == "link" and not mark.get("attrs", {}).get("href"):
                errors.append(f"{path}: link mark without href")
        return errors
    if node_type not in ADF_CHILDREN:
        return [*errors, f"{path}: unknown node type {node_type!r}"]
    if node_type == "heading" and node.get("attrs", {}).get("level") not in range(1, 7):
        errors.append(f"{path}: heading level must be 1-6")
    content = node.get("content")
    if not isinstance(content, list) or (node_type != "paragraph" and not content):
        errors.append(f"{path}: {node_type} needs content")
        return errors
    for index, child in enumerate(content):
        child_type = child.get("type") if isinstance(child, dict) else None
        if child_type not in ADF_CHILDREN[node_type]:
            errors.append(f"{path}.{index}: {child_type!r} cannot be inside {node_type}")
        errors += adf_errors(child, f"{path}.{node_type}[{index}]")
    return errors


def issue_errors(headers: Any, body: bytes, *, email: str, token: str) -> list[str]:
    errors = []
    expected_auth = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
    if headers.get("Authorization") != expected_auth:
        errors.append("Authorization: basic auth with email and API token required")
    if not (headers.get("Content-Type") or "").startswith("application/json"):
        errors.append("Content-Type must be application/json")
    try:
        payload = json.loads(body)
    except ValueError:
        return [*errors, "body is not JSON"]
    fields = payload.get("fields") if isinstance(payload, dict) else None
    if not isinstance(fields, dict):
        return [*errors, "fields is required"]
    if not isinstance(fields.get("project"), dict) or not fields["project"].get("key"):
        errors.append("fields.project.key is required")
    issuetype = fields.get("issuetype")
    if not isinstance(issuetype, dict) or not (issuetype.get("name") or issuetype.get("id")):
        errors.append("fields.issuetype needs a name or id")
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) > 255 or "\n" in summary:
        errors.append("fields.summary must be one line of 1-255 characters")
    if "description" in fields:
        errors += adf_errors(fields["description"])
    return errors


class FakeJira:
    def __init__(self, *, email: str, token: str, project_key: str = "QA") -> None:
        self.email, self.token, self.project_key = email, token, project_key
        self.issues: list[dict[str, Any]] = []
        self.rejections: list[list[str]] = []
        self.refuse_next = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/rest/api/3/issue":
                    self._answer(404, {"errorMessages": ["not found"]})
                    return
                errors = issue_errors(self.headers, body, email=fake.email, token=fake.token)
                if fake.refuse_next:
                    fake.refuse_next = False
                    errors = ["refused on purpose"]
                if errors:
                    fake.rejections.append(errors)
                    self._answer(400, {"errorMessages": errors, "errors": {}})
                    return
                fake.issues.append(json.loads(body))
                key = f"{fake.project_key}-{len(fake.issues)}"
                self._answer(201, {"id": str(10000 + len(fake.issues)), "key": key, "self": ""})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeJira:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
