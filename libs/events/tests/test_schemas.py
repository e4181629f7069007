"""The committed contract files are fresh and compatible with every released schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supportops_events import registry
from supportops_events.export import (
    ASYNCAPI_PATH,
    RELEASED_DIR,
    SCHEMAS_DIR,
    breaking_changes,
    event_schema,
    find_root,
    find_stale,
    generated_files,
    load_released,
    main,
    release,
    write,
)

ROOT = find_root(Path(__file__).parent)


# --- the committed files --------------------------------------------------------------


def test_committed_files_are_fresh() -> None:
    staleness = find_stale(ROOT)

    assert not staleness, "run `make schemas`:\n" + "\n".join(staleness.lines())


def test_current_schemas_are_compatible_with_every_released_schema() -> None:
    problems = breaking_changes(ROOT)

    assert problems == [], "\n".join(map(str, problems))


def test_every_event_type_has_a_committed_schema_per_version() -> None:
    committed = {path.name for path in (ROOT / SCHEMAS_DIR).glob("*.json")}

    assert committed == {f"{t}.v{registry.version_for(t)}.json" for t in registry.event_types()}


def test_released_snapshots_cover_the_catalog_and_name_themselves() -> None:
    released = load_released(ROOT)

    assert {schema["x-event-type"] for schema in released} == set(registry.event_types())
    for path in (ROOT / RELEASED_DIR).glob("*.json"):
        schema = json.loads(path.read_text())
        assert path.name == f"{schema['x-event-type']}.v{schema['x-event-version']}.json"


def test_schema_describes_the_wire_data() -> None:
    schema = json.loads((ROOT / SCHEMAS_DIR / "invoice.paid.v1.json").read_text())

    assert schema["x-topic"] == "billing.events"
    assert schema["$id"] == "urn:supportops:event:invoice.paid:v1"
    assert {"tenant_id", "invoice_id", "amount_due", "currency", "paid_at"} <= set(
        schema["required"]
    )
    assert schema["properties"]["amount_due"]["type"] == "integer"


def test_events_guide_names_every_event_type_and_topic() -> None:
    guide = (ROOT / "docs" / "events.md").read_text()

    missing = [t for t in registry.event_types() + registry.topics() if f"`{t}`" not in guide]
    assert missing == []


# --- the export and its check, on a scratch copy --------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A repository root holding a fresh copy of the generated and released files."""
    (tmp_path / "libs" / "events").mkdir(parents=True)
    (tmp_path / "libs" / "events" / "pyproject.toml").write_text("")
    shutil.copytree(ROOT / SCHEMAS_DIR, tmp_path / SCHEMAS_DIR)
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / ASYNCAPI_PATH, tmp_path / ASYNCAPI_PATH)
    return tmp_path


def test_check_lists_changed_missing_and_orphaned_files(
    scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (scratch / SCHEMAS_DIR / "invoice.paid.v1.json").write_text("{}\n")
    (scratch / ASYNCAPI_PATH).unlink()
    (scratch / SCHEMAS_DIR / "invoice.teleported.v1.json").write_text("{}\n")

    assert main(["--check", "--root", str(scratch)]) == 1

    out = capsys.readouterr().out
    assert "stale:    libs/events/schemas/invoice.paid.v1.json" in out
    assert "missing:  docs/asyncapi.yaml" in out
    assert "orphaned: libs/events/schemas/invoice.teleported.v1.json" in out


def test_export_rewrites_stale_files_and_removes_orphans(scratch: Path) -> None:
    (scratch / SCHEMAS_DIR / "invoice.paid.v1.json").write_text("{}\n")
    (scratch / SCHEMAS_DIR / "invoice.paid.v0.json").write_text("{}\n")

    changed = write(scratch)

    assert set(changed) == {
        SCHEMAS_DIR / "invoice.paid.v1.json",
        SCHEMAS_DIR / "invoice.paid.v0.json",
    }
    assert not find_stale(scratch)
    assert not (scratch / SCHEMAS_DIR / "invoice.paid.v0.json").exists()
    assert write(scratch) == []


def test_check_fails_on_a_breaking_change_to_a_released_schema(
    scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pretend v1 of invoice.paid was released with a field the model no longer has.
    snapshot = scratch / RELEASED_DIR / "invoice.paid.v1.json"
    schema = json.loads(snapshot.read_text())
    schema["properties"]["loyalty_points"] = {"type": "integer"}
    snapshot.write_text(json.dumps(schema))

    assert main(["--check", "--root", str(scratch)]) == 1

    out = capsys.readouterr().out
    assert "breaking: invoice.paid v1 loyalty_points: removed_field" in out
    assert "stale" not in out


def test_check_passes_on_a_fresh_copy(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--root", str(scratch)]) == 0
    assert capsys.readouterr().out == ""


def test_release_snapshots_only_unreleased_versions(scratch: Path) -> None:
    (scratch / RELEASED_DIR / "invoice.paid.v1.json").unlink()
    frozen = scratch / RELEASED_DIR / "invoice.sent.v1.json"
    frozen.write_text(frozen.read_text().replace('"Sent At"', '"Sent at (as released)"'))

    assert release(scratch) == [RELEASED_DIR / "invoice.paid.v1.json"]
    assert json.loads((scratch / RELEASED_DIR / "invoice.paid.v1.json").read_text()) == (
        event_schema(registry.model_for("invoice.paid"))
    )
    assert "as released" in frozen.read_text()


def test_entry_point_runs_as_a_module(scratch: Path) -> None:
    (scratch / SCHEMAS_DIR / "invoice.paid.v1.json").write_text("{}\n")
    command = [sys.executable, "-m", "supportops_events.export", "--root", str(scratch)]

    checked = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    written = subprocess.run(command, capture_output=True, text=True, check=False)
    rechecked = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)

    assert checked.returncode == 1
    assert "invoice.paid.v1.json" in checked.stdout
    assert written.returncode == 0
    assert "wrote libs/events/schemas/invoice.paid.v1.json" in written.stdout
    assert rechecked.returncode == 0


def test_generated_files_are_deterministic() -> None:
    assert generated_files() == generated_files()
