"""The encoder changes (decision 0057): every embedding names its encoder, the duplicate
search never compares vectors of two encoders (a bug of another one scores semantic 0
until re-embedded), ``escalation-service reembed`` (and ``migrate`` after the upgrade)
re-embeds them in resumable batches, refits of another encoder are not served, and a
refit recomputes the semantic signal of verdicts stored under another encoder - on real
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from escalation_fixtures import AGENT, QA, Running, create, report
from sqlalchemy import text
from test_duplicate_verdicts import judge_pair, paraphrase
from test_semantic_duplicates import NEAR_MISS, ORIGINAL, REWORDED, _probe

import escalation_service
from escalation_service.bugs import encoder, repository
from escalation_service.bugs.embedding import EMBEDDING_MODEL, cosine
from escalation_service.bugs.learning import data_version, load_corpus_pairs
from escalation_service.bugs.service.verdicts import model_in_use, refit
from escalation_service.bugs.similarity import SHIPPED, SIGNALS
from escalation_service.cli import build_cli, run_reembed
from servicekit.db import Database
from servicekit.migrations import upgrade
from servicekit.testing import create_database, drop_database, unique_name

PREVIOUS = "all-minilm-l6-v2-q"
"""The encoder before decision 0057 (what the migration labels existing rows with)."""
REPO_ROOT = Path(escalation_service.__file__).resolve().parents[4]


async def sql(running: Running, statement: str, **params: Any) -> list[Any]:
    db = Database(running.settings.database_url)
    try:
        async with db.unit_of_work() as session:
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await db.dispose()


async def make_stale(running: Running, bug_id: str, vector: list[float] | None) -> None:
    """The bug as the previous encoder left it: its vector, labelled with that encoder."""
    await sql(
        running,
        "UPDATE bugs SET embedding = :e, embedding_model = :m WHERE id = :id",
        e=vector,
        m=PREVIOUS if vector is not None else None,
        id=uuid.UUID(bug_id),
    )


async def stored(running: Running) -> dict[str, tuple[list[float] | None, str | None, int]]:
    rows = await sql(running, "SELECT id, embedding, embedding_model, version FROM bugs")
    return {str(r.id): (r.embedding, r.embedding_model, r.version) for r in rows}


def test_the_embedding_model_is_the_served_encoders_name() -> None:
    assert EMBEDDING_MODEL == encoder.MODEL.name == "minilm-l6-dup-tuned-v2-q"
    assert EMBEDDING_MODEL != PREVIOUS


async def test_filing_and_editing_store_the_encoder_with_the_embedding(running: Running) -> None:
    bug = await create(running.client, report(**ORIGINAL, force_new=True))
    assert (await stored(running))[bug["id"]][1] == EMBEDDING_MODEL
    await make_stale(running, bug["id"], [0.0] * 384)
    url = f"/v1/bugs/{bug['id']}"
    etag = (await running.client.get(url, headers=QA)).headers["ETag"]
    edited = await running.client.patch(
        url,
        content=json.dumps({"title": "Scheduled report e-mails have an empty CSV attached"}),
        headers={**QA, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert edited.status_code == 200, edited.text
    vector, model, _ = (await stored(running))[bug["id"]]
    assert model == EMBEDDING_MODEL and vector is not None and any(vector)


async def test_reembed_re_embeds_the_bugs_of_another_encoder_once(running: Running) -> None:
    first = await create(running.client, report(**ORIGINAL, force_new=True))
    second = await create(running.client, report(**REWORDED, force_new=True))
    third = await create(running.client, report(**NEAR_MISS, force_new=True))
    current = await stored(running)
    # one bug with another encoder's vector (a stand-in: constant, not this text's), one
    # never embedded; the third is the current encoder's and must not be touched
    await make_stale(running, first["id"], [0.0625] * 256)
    await make_stale(running, second["id"], None)
    lines: list[str] = []

    # a run out of time does nothing and says what is left: the next one goes on
    out_of_time = await run_reembed(running.settings, budget_seconds=0, report=lines.append)
    assert (out_of_time.done, out_of_time.left) == (0, 2)
    assert lines == [
        f"reembed: 0 bugs re-embedded with {EMBEDDING_MODEL}; 2 left (the next run goes on)"
    ]

    lines.clear()
    done = await run_reembed(running.settings, batch=1, report=lines.append)
    assert (done.done, done.left) == (2, 0)
    assert lines == [
        "reembed: 1 re-embedded",
        "reembed: 2 re-embedded",
        f"reembed: 2 bugs re-embedded with {EMBEDDING_MODEL}; 0 left",
    ]
    after = await stored(running)
    for bug_id, part in ((first["id"], ORIGINAL), (second["id"], REWORDED)):
        vector, model, version = after[bug_id]
        assert model == EMBEDDING_MODEL
        assert vector is not None and len(vector) == 384
        # the vector filing stores for that report, and the bug itself did not change
        assert cosine(list(vector), _probe(part).embedding) > 0.999
        assert version == current[bug_id][2]
    assert after[third["id"]] == current[third["id"]]

    # a second run finds nothing: it changes nothing and does not load a batch
    lines.clear()
    again = await run_reembed(running.settings, report=lines.append)
    assert (again.done, again.left) == (0, 0)
    assert lines == [f"reembed: 0 bugs re-embedded with {EMBEDDING_MODEL}; 0 left"]
    assert await stored(running) == after


async def _semantic(running: Running, part: dict[str, Any], bug_id: str) -> float:
    """The semantic signal of ``part`` against the stored bug, by the search's own SQL."""
    db = Database(running.settings.database_url)
    try:
        async with db.unit_of_work() as session:
            query, params = repository.retrieval(_probe(part), terms=None)
            rows = (await session.execute(text(query), params)).all()
    finally:
        await db.dispose()
    (row,) = [r for r in rows if str(r.id) == bug_id]
    return float(row.semantic)


async def _similar_score(running: Running, part: dict[str, Any], bug_id: str) -> float:
    response = await running.client.post(
        "/v1/bugs/similar",
        json={
            "title": part["title"],
            "description": part["summary"],
            "steps": part["steps"],
            "actual": part["actual"],
        },
        headers=AGENT,
    )
    assert response.status_code == 200, response.text
    scores = [c["score"] for c in response.json()["items"] if c["bug_id"] == bug_id]
    return scores[0] if scores else 0.0


async def test_a_candidate_of_another_encoder_scores_semantic_zero_until_re_embedded(
    running: Running,
) -> None:
    bug = await create(running.client, report(**ORIGINAL, force_new=True))
    fresh_semantic = await _semantic(running, REWORDED, bug["id"])
    fresh_score = await _similar_score(running, REWORDED, bug["id"])
    assert fresh_semantic > 0.6
    # The same vector, labelled as another encoder's: never compared with the new one
    vector = (await stored(running))[bug["id"]][0]
    await make_stale(running, bug["id"], vector)
    assert await _semantic(running, REWORDED, bug["id"]) == 0.0
    assert await _similar_score(running, REWORDED, bug["id"]) < fresh_score
    # re-embedded: compared again, exactly as before
    assert (await run_reembed(running.settings, report=lambda _: None)).done == 1
    assert await _semantic(running, REWORDED, bug["id"]) == pytest.approx(fresh_semantic, abs=1e-6)
    assert await _similar_score(running, REWORDED, bug["id"]) == fresh_score


async def test_a_refit_of_another_encoder_is_not_served(running: Running) -> None:
    db = Database(running.settings.database_url)
    try:
        async with db.unit_of_work() as session:
            fitted = await refit(session, at=running.clock.now())
        assert fitted.row.accepted and fitted.row.encoder == EMBEDDING_MODEL
        async with db.unit_of_work() as session:
            assert (await model_in_use(session, default_threshold=0.82)).model.version == (
                fitted.row.version
            )
            # as a refit recorded before decision 0057: the previous encoder, a version
            # of its data alone (the encoder was not part of it)
            await session.execute(
                text("UPDATE duplicate_models SET encoder = :m, version = :v"),
                {"m": PREVIOUS, "v": data_version(load_corpus_pairs())},
            )
        async with db.unit_of_work() as session:
            in_use = await model_in_use(session, default_threshold=0.82)
        assert in_use.model is SHIPPED and in_use.threshold == 0.82
        model = (await running.client.get("/v1/duplicate-model", headers=QA)).json()
        assert model["version"] == "shipped" and model["encoder"] == EMBEDDING_MODEL
        assert model["latest_refit"]["encoder"] == PREVIOUS
        # a refit of the same data under the current encoder is another model, served
        async with db.unit_of_work() as session:
            again = await refit(session, at=running.clock.now())
        assert again.created and again.row.version == fitted.row.version
        async with db.unit_of_work() as session:
            assert (await model_in_use(session, default_threshold=0.82)).model.version == (
                again.row.version
            )
    finally:
        await db.dispose()


async def test_a_refit_recomputes_the_semantic_of_verdicts_of_another_encoder(
    running: Running,
) -> None:
    older = await create(running.client, paraphrase(0))
    newer = await create(running.client, paraphrase(1, force_new=True))
    judged = await judge_pair(running, newer["id"], older["id"], "duplicate")
    assert judged.status_code in (200, 201), judged.text
    (verdict,) = await sql(running, "SELECT signals, revision, encoder FROM duplicate_verdicts")
    assert verdict.encoder == EMBEDDING_MODEL
    semantic = SIGNALS.index("semantic")
    fresh = list(verdict.signals)
    # As the previous encoder left them: the verdict's cosine and one bug's vector are its
    old_signals = [*fresh[:semantic], 0.123, *fresh[semantic + 1 :]]
    await sql(
        running,
        "UPDATE duplicate_verdicts SET signals = CAST(:s AS jsonb), encoder = :m",
        s=json.dumps(old_signals),
        m=PREVIOUS,
    )
    await make_stale(running, older["id"], [0.0625] * 256)

    db = Database(running.settings.database_url)
    try:
        async with db.unit_of_work() as session:
            result = await refit(session, at=running.clock.now())
    finally:
        await db.dispose()
    (after,) = await sql(running, "SELECT signals, revision, encoder FROM duplicate_verdicts")
    assert after.encoder == EMBEDDING_MODEL
    assert after.revision > verdict.revision  # its signals changed
    # the semantic signal of the bugs' current embeddings (the older one re-embedded for
    # it), the other signals as stored
    assert after.signals[semantic] == pytest.approx(fresh[semantic], abs=1e-6)
    assert after.signals[:semantic] == fresh[:semantic]
    assert after.signals[semantic + 1 :] == fresh[semantic + 1 :]
    assert (await stored(running))[older["id"]][1] == EMBEDDING_MODEL
    assert result.row.verdicts == 1 and result.row.encoder == EMBEDDING_MODEL
    assert result.row.verdicts_through == after.revision
    listed = (await running.client.get("/v1/duplicate-verdicts", headers=QA)).json()
    assert [v["encoder"] for v in listed["items"]] == [EMBEDDING_MODEL]
    assert listed["items"][0]["waiting_for_refit"] is False


async def test_migrate_labels_old_embeddings_and_re_embeds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database of the previous encoder: the migration labels its vectors with it, and
    ``escalation-service migrate`` re-embeds them after the upgrade."""
    service_dir = Path(escalation_service.__file__).parent
    name = unique_name("escalation_reembed")
    url = await create_database(name)
    try:
        await asyncio.to_thread(upgrade, service_dir, url, "20261207_dup_verdicts")
        db = Database(url)
        bug_id = uuid.uuid4()
        try:
            async with db.unit_of_work() as session:
                await session.execute(
                    text(
                        "INSERT INTO bugs (id, tenant_id, title, summary, steps, steps_text,"
                        " expected, actual, environment, severity, attachments,"
                        " affected_tenants, status, completeness_score, rework_count, version,"
                        " created_at, updated_at, embedding)"
                        " VALUES (:id, 't', :title, :summary, CAST(:step_list AS json), :steps,"
                        " '', :actual, '{}',"
                        " 'high', '[]', '[]', 'reported', 0, 0, 1, now(), now(), :e)"
                    ),
                    {
                        "id": bug_id,
                        "title": ORIGINAL["title"],
                        "summary": ORIGINAL["summary"],
                        "step_list": json.dumps(ORIGINAL["steps"]),
                        "steps": "\n".join(ORIGINAL["steps"]),
                        "actual": ORIGINAL["actual"],
                        "e": [0.0625] * 384,
                    },
                )
            await asyncio.to_thread(upgrade, service_dir, url, "head")
            async with db.unit_of_work() as session:
                assert (
                    await session.scalar(
                        text("SELECT embedding_model FROM bugs WHERE id = :id"), {"id": bug_id}
                    )
                    == PREVIOUS
                )
            monkeypatch.setenv("ESCALATION_DATABASE_URL", url)
            monkeypatch.setenv("ESCALATION_ENVIRONMENT", "test")
            assert await asyncio.to_thread(build_cli().main, ["migrate"]) == 0
            async with db.unit_of_work() as session:
                row = (
                    await session.execute(
                        text("SELECT embedding, embedding_model FROM bugs WHERE id = :id"),
                        {"id": bug_id},
                    )
                ).one()
        finally:
            await db.dispose()
    finally:
        await drop_database(name)
    assert row.embedding_model == EMBEDDING_MODEL
    assert cosine(list(row.embedding), _probe(ORIGINAL).embedding) > 0.999


def test_the_wheel_carries_the_model_and_its_tokenizer(tmp_path: Path) -> None:
    """The image installs the package non-editable: the model must be inside the wheel,
    byte for byte the pinned files."""
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    subprocess.run(
        [uv, "build", "--package", "escalation-service", "--wheel", "-o", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("escalation_service-*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "unpacked")
    packaged = tmp_path / "unpacked" / "escalation_service" / "bugs" / "model"
    assert encoder.sha256_of(packaged / "model.onnx") == encoder.MODEL.onnx_sha256
    assert encoder.sha256_of(packaged / "tokenizer.json") == encoder.MODEL.tokenizer_sha256
    # and the service finds it there, as in the image (no folder configured)
    assert encoder.Encoder(packaged).dimensions == 384
