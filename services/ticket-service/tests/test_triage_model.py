"""The scored triage classifier: confidence and evidence on the dry run and the ticket, the
review queue for unsure tickets, agents' corrections as examples, refits and versions."""

from __future__ import annotations

import subprocess
import sys
import uuid

import numpy as np
import pytest
from ticket_service_testkit import ADMIN, AGENT, Service, open_ticket, patch_ticket, problem

from ticket_service.cli import run_triage_refit
from ticket_service.triage import fitting
from ticket_service.triage.model import (
    HyperParameters,
    TriageModel,
    char_wb_ngrams,
    clean_text,
    load_corpus,
    word_ngrams,
)


async def dry_run(svc: Service, subject: str, body: str) -> dict[str, object]:
    response = await svc.client.post(
        "/v1/triage-rules/dry-run", json={"subject": subject, "body": body}, headers=AGENT
    )
    assert response.status_code == 200, response.text
    outcome: dict[str, object] = response.json()
    return outcome


@pytest.mark.parametrize(
    ("subject", "body", "label"),
    [
        # the issue's examples the keyword rules got wrong, in customers' words
        ("Joining", "Hi, I never received the email to join our workspace", "access/activation"),
        ("Payment", "We got a notice that our card was declined this month", "billing"),
        ("Branding", "how can we change the logo on our login page?", "platform_question"),
        ("Can't log in", "my password is not accepted", "access/login"),
        ("Login", "my authenticator app was reset, 2FA fails", "access/mfa"),
        ("Account", "my user was deactivated yesterday", "access/inactive"),
        ("Seats", "we need 5 more seats on our subscription", "subscription"),
        ("Export fails", "I get an error 500 when exporting", "potential_bug"),
        ("GDPR", "can you send us your DPA?", "compliance_guidance"),
        ("Idea", "It would be great to have dark mode, please add it", "feature_request"),
        ("Pricing", "can we get a quote for 200 users", "sales"),
        ("Getting started", "help with onboarding our team", "onboarding"),
        ("Hello", "just saying thanks", "other"),
        # the boundary cross-validation confuses most: one situation told as a defect, a
        # how-to and a wish (sentences in none of the corpus files)
        (
            "Due dates",
            "Is it me, or are due dates shifted by a day since Monday? I set Friday and it "
            "shows Thursday.",
            "potential_bug",
        ),
        (
            "Due dates",
            "Where do I set a due date on a ticket? I cannot find the field.",
            "platform_question",
        ),
        (
            "Due dates",
            "Due dates on tickets would be a great addition, please consider building them.",
            "feature_request",
        ),
    ],
)
async def test_the_classifier_routes_requests_with_confidence_and_evidence(
    svc: Service, subject: str, body: str, label: str
) -> None:
    outcome = await dry_run(svc, subject, body)
    got = str(outcome["category"]) + (
        f"/{outcome['subcategory']}" if outcome["subcategory"] else ""
    )
    assert got == label
    assert outcome["rule_name"] is None  # no rule overrode: the classifier decided
    assert isinstance(outcome["confidence"], float)
    assert outcome["confidence"] >= svc.settings.triage_review_below
    assert outcome["needs_review"] is False and outcome["queue"] != "triage_review"
    assert str(outcome["model_version"]).startswith(("corpus-", "tfidf-sgd-"))
    evidence = outcome["evidence"]
    assert isinstance(evidence, list) and evidence
    # the evidence is made of this ticket's own words
    text = f"{subject} {body}".lower()
    assert any(e["feature"].strip("…").strip() in text for e in evidence)
    assert "classifier" in str(outcome["reasons"])


async def test_an_unsure_ticket_waits_in_the_review_queue_with_a_suggestion(svc: Service) -> None:
    outcome = await dry_run(svc, "Question", "Please call me back.")
    assert outcome["needs_review"] is True
    assert isinstance(outcome["confidence"], float)
    assert outcome["confidence"] < svc.settings.triage_review_below
    assert outcome["queue"] == "triage_review"
    assert outcome["tags"] == ["needs_triage_review"]
    assert outcome["category"] and outcome["runner_up"]  # a suggestion, and the next best

    ticket = await open_ticket(
        svc.client, await svc.tenant(), subject="Question", body="Please call me back."
    )
    assert ticket["queue"] == "triage_review"
    assert ticket["triage"]["confidence"] == outcome["confidence"]
    listed = await svc.client.get(
        "/v1/tickets",
        params={"queue": "triage_review", "tenant_id": ticket["tenant_id"]},
        headers=AGENT,
    )
    assert [t["id"] for t in listed.json()["items"]] == [ticket["id"]]


async def test_a_created_ticket_records_confidence_version_and_evidence(svc: Service) -> None:
    ticket = await open_ticket(
        svc.client,
        await svc.tenant(),
        subject="not receiving the text message code",
        body="Hi, the SMS with the verification code never arrives when I sign in.",
    )
    assert (ticket["category"], ticket["subcategory"]) == ("access", "mfa")
    judgment = ticket["triage"]
    assert judgment["confidence"] > 0.35 and judgment["evidence"]
    model = (await svc.client.get("/v1/triage-model", headers=AGENT)).json()
    assert judgment["model_version"] == model["version"]
    detail = (await svc.client.get(f"/v1/tickets/{ticket['id']}", headers=AGENT)).json()
    triaged = next(e for e in detail["timeline"] if e["action"] == "triaged")
    assert triaged["data"]["model_version"] == model["version"]
    assert triaged["data"]["confidence"] == judgment["confidence"]
    assert triaged["data"]["evidence"] == judgment["evidence"]
    assert "evidence:" in triaged["reason"]


async def test_an_enabled_rule_overrides_the_classifier(svc: Service) -> None:
    marker = f"vip{uuid.uuid4().hex[:8]}"
    rule = {
        "name": f"override {marker}",
        "position": 1,
        "conditions": {"keywords": [marker]},
        "actions": {"category": "sales", "queue": "vip", "priority": "urgent"},
    }
    created = await svc.client.post("/v1/triage-rules", json=rule, headers=ADMIN)
    assert created.status_code == 201, created.text
    outcome = await dry_run(svc, "Password", f"{marker}: my password is not accepted")
    assert (outcome["rule_name"], outcome["category"], outcome["queue"]) == (
        rule["name"],
        "sales",
        "vip",
    )
    assert outcome["confidence"] is None and outcome["model_version"] is None
    await svc.client.delete(
        f"/v1/triage-rules/{created.json()['id']}", headers={**ADMIN, "If-Match": '"1"'}
    )


async def test_agents_corrections_become_examples_and_a_refit_learns_them(svc: Service) -> None:
    # words the corpus has never seen: the classifier cannot know what they are about
    words = "Quokkaline flux capacitor gizmo"
    subject, body = f"{words} renewal", f"The {words} thingamajig needs sorting out."
    before = await dry_run(svc, subject, body)
    target = "sales" if before["category"] != "sales" else "onboarding"
    t = await svc.tenant()
    for n in range(3):
        ticket = await open_ticket(svc.client, t, subject=f"{subject} {n}", body=body)
        await patch_ticket(svc.client, ticket["id"], {"category": target, "reason": "agent fix"})

    examples = (await svc.client.get("/v1/triage-model/examples?limit=200", headers=AGENT)).json()
    mine = [e for e in examples["items"] if e["subject"].startswith(subject)]
    assert len(mine) == 3
    assert {e["label"] for e in mine} == {target}
    assert mine[0]["labelled_by"] == "agent-ann" and mine[0]["model_version"]
    model = (await svc.client.get("/v1/triage-model", headers=AGENT)).json()
    assert model["pending_examples"] >= 3

    refused = await svc.client.post("/v1/triage-model/refit", headers=AGENT)
    assert problem(refused, 403)["type"].endswith("/insufficient-role")
    refit = await svc.client.post("/v1/triage-model/refit", headers=ADMIN)
    assert refit.status_code == 200, refit.text
    result = refit.json()
    assert result["created"] is True and result["agent_examples"] >= 3
    assert result["version"] != model["version"] and result["fit_seconds"] < 5
    again = (await svc.client.post("/v1/triage-model/refit", headers=ADMIN)).json()
    assert again == {**result, "created": False, "fit_seconds": again["fit_seconds"]}

    after = await dry_run(svc, subject, body)
    assert after["model_version"] == result["version"]
    assert after["category"] == target  # learned from the agents
    current = (await svc.client.get("/v1/triage-model", headers=AGENT)).json()
    assert current["version"] == result["version"] and current["pending_examples"] == 0


def test_the_fast_path_gives_exactly_what_scikit_learn_gives() -> None:
    """``predict`` uses neither scikit-learn nor its per-call validation (to stay far below
    2 ms a ticket and ~100 MiB lighter) and must stay equal to its pipeline."""
    examples = load_corpus()
    union, estimator = fitting.fit_pipeline(examples, HyperParameters())
    model = TriageModel(
        version="t",
        params=fitting.parameters_of(union, estimator, trained_on=len(examples), fit_seconds=0),
    )
    samples = [
        ("Can't log in", "my pasword is not accepted\n\nThanks\nAnn"),
        ("Rechnung", "Die Rechnung enthält keine USt-IdNr. Grüße, Zoë"),
        ("", ""),
        ("a", "I"),
        ("Export fails", "Error 500 " * 400),
        (
            "\uff26\uff35\uff2c\uff2c width\tand   tabs",
            "naïve café\u00a0crème \u2014 \ufb01le \u00bd",
        ),
    ] + [(e.subject, e.body) for e in examples[::7]]
    for subject, body in samples:
        indices, values = model.vectorize(subject, body)
        ours = model.probabilities(indices, values)
        reference = estimator.predict_proba(union.transform([clean_text(subject, body)]))[0]
        assert np.allclose(ours, reference)
        assert model.predict(subject, body).label == model.labels[int(np.argmax(reference))]


def test_the_analyzers_are_scikit_learns_on_every_training_ticket() -> None:
    union = fitting.features(HyperParameters())
    word, char = (v.build_analyzer() for _, v in union.transformer_list)
    hyper = HyperParameters()
    for e in load_corpus():
        text = clean_text(e.subject, e.body)
        assert word_ngrams(text, hyper.word_ngrams) == word(text)
        assert char_wb_ngrams(text, hyper.char_ngrams) == char(text)


def test_the_serving_process_does_not_import_scikit_learn() -> None:
    """scikit-learn costs ~100 MiB: the app and a fit through ``fit_model`` (a child
    process) leave it out of the serving process."""
    code = (
        "import sys\n"
        "from ticket_service.main import create_app\n"
        "from ticket_service.triage.model import fit_model, load_corpus\n"
        "model = fit_model(load_corpus())\n"
        "assert model.predict('Cannot log in', 'password reset link expired').label\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


async def test_the_scheduled_refit_command_records_one_version_per_set_of_examples(
    svc: Service,
) -> None:
    first = await run_triage_refit(svc.settings)
    assert first.version.startswith("tfidf-sgd-")
    assert first.corpus_examples == len(load_corpus())
    again = await run_triage_refit(svc.settings)
    assert (again.version, again.created) == (first.version, False)
    # the running service picks the recorded version up on its next poll
    listed = (await svc.client.get("/v1/triage-model", headers=AGENT)).json()
    assert listed["corpus_examples"] == first.corpus_examples
