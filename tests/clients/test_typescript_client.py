"""Clean generated clients (issue #18): TypeScript types generated with openapi-typescript
from the four OpenAPI documents, and a small openapi-fetch client
(clients/typescript/src/client.ts: create, list, patch with If-Match, problem handling)
typechecked with ``tsc --strict``. An API change that breaks that frontend code (a
renamed field, a removed operation, an operation id) fails here.

Node.js and npm are needed; the pinned packages (clients/typescript/package-lock.json)
are installed with ``npm ci`` when ``node_modules`` is missing (``.ci/run`` does it too).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
BIN = CLIENT / "node_modules" / ".bin"

sys.path.insert(0, str(ROOT))
from scripts.operation_ids import documents

pytestmark = pytest.mark.timeout(300)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=CLIENT, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def generated() -> Path:
    assert shutil.which("npm"), "Node.js and npm are needed (apt-get install nodejs npm)"
    if not (BIN / "tsc").exists() or not (BIN / "openapi-typescript").exists():
        installed = run("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    out = CLIENT / "generated"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for service, document in documents().items():
        spec = out / f"{service}.json"
        spec.write_text(json.dumps(document))
        done = run(str(BIN / "openapi-typescript"), str(spec), "-o", str(out / f"{service}.ts"))
        assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_typed_client_typechecks_strictly(generated: Path) -> None:
    config = json.loads((CLIENT / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    checked = run(str(BIN / "tsc"), "-p", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_types_are_keyed_by_readable_operation_ids(generated: Path) -> None:
    types = (generated / "ticket-service.ts").read_text()
    for op in ('"tickets.create"', '"tickets.list"', '"tickets.update"'):
        assert f"operations[{op}]" in types, op
    assert "_v1_" not in types, "a FastAPI default operation id leaked into the client"


def test_a_client_that_no_longer_matches_the_api_fails(generated: Path, tmp_path: Path) -> None:
    """The check is real: the same client with a field the API does not have is refused."""
    broken = (
        (CLIENT / "src" / "client.ts").read_text().replace("data.next_cursor", "data.nextCursor")
    )
    probe = CLIENT / "src" / "zz_broken_probe.ts"
    probe.write_text(broken)
    try:
        checked = run(str(BIN / "tsc"), "-p", ".")
    finally:
        probe.unlink()
    assert checked.returncode != 0
    assert "nextCursor" in checked.stdout
