"""Build the labelled triage corpus from the hand-written sources, with a fixed split.

The tickets are written by hand in ``source/tickets-*.txt`` (``## <label>`` starts a
category, ``@ <persona> | <subject>`` starts a ticket, the following lines are its body).
This script only adds class-independent noise that real mail carries - greetings,
signatures with disclaimers, quoted auto-replies, a few typos - chosen by a seeded random
generator per ticket, so the output is byte-for-byte reproducible. It never looks at the
words that the classifier or the rules use.

Split (fixed, never re-drawn): a ticket is held out when the first 8 hex digits of the
SHA-256 of its id, read as a fraction of 2**32, are below 0.25 - so adding tickets later never
moves an existing one between the parts. The held-out part is written to
``benchmarks/corpus/tickets-heldout.jsonl`` only; the training part ships inside the
ticket-service package (``ticket_service/triage/corpus/tickets-train.jsonl``) because the
service fits its model from it. Tuning reads the training part alone.

Bug-report pairs come from ``source/bugs-*.yaml`` (see :func:`bug_pairs`) and go to
``bug-pairs-train.jsonl`` and ``bug-pairs-heldout.jsonl``; the duplicate detector's weights
and threshold are fitted on the training pairs only.

Run: ``uv run --frozen python benchmarks/corpus/build.py``
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
HELDOUT = HERE / "tickets-heldout.jsonl"
TRAIN = ROOT / "services/ticket-service/src/ticket_service/triage/corpus/tickets-train.jsonl"
BUGS_TRAIN = HERE / "bug-pairs-train.jsonl"
BUGS_HELDOUT = HERE / "bug-pairs-heldout.jsonl"
HELDOUT_SHARE = 0.25

GREETINGS = [
    "Hi,",
    "Hello,",
    "Hi team,",
    "Dear Support,",
    "Hello support team,",
    "Hey,",
    "Good morning,",
    "Dear Sir or Madam,",
    "Hi there,",
    "Hallo,",
]
NAMES = [
    "Maria Keller",
    "Jonas Weber",
    "Aisha Rahman",
    "Tom Berger",
    "Lucia Ferreira",
    "Kenji Sato",
    "Emma Lindqvist",
    "Piotr Nowak",
    "Claire Dubois",
    "Sam O'Neill",
    "Fatima El Idrissi",
    "Daniel Kim",
    "Ingrid Haugen",
    "Marco Bianchi",
    "Priya Nair",
]
COMPANIES = [
    "Brightwave GmbH",
    "Northwind Logistics",
    "Acme Health BV",
    "Kestrel Analytics Ltd",
    "Bluepeak SAS",
    "Orchard Retail AG",
    "Helios Energy Oy",
    "Tandem Legal LLP",
]
TITLES = {
    "end_user": ["", "Customer Service", "Sales Operations", "Field Support"],
    "tenant_admin": ["Support Operations Lead", "IT Administrator", "Head of Customer Care"],
    "finance": ["Accounts Payable", "Finance Controller", "Head of Finance"],
    "procurement": ["Procurement", "Strategic Sourcing Manager", "Vendor Management"],
    "security_officer": ["Information Security Officer", "Data Protection Officer", "CISO"],
}
CLOSINGS = [
    "Thanks",
    "Thanks,",
    "Best regards",
    "Kind regards,",
    "Cheers",
    "Regards",
    "BR",
    "Many thanks in advance",
    "Thank you!",
]
DISCLAIMER = (
    "This e-mail and any attachments are confidential and may be privileged. If you are not "
    "the intended recipient please notify the sender and delete it."
)
QUOTED = [
    "On Mon, 3 Nov 2026 at 09:12, Support <support@example.com> wrote:\n"
    "> Thank you for contacting us. We have received your request and will get back to you\n"
    "> as soon as possible.",
    "-----Original Message-----\nFrom: Support\nSent: Friday\n"
    "> Is there anything else we can help you with?",
]


def parse(path: Path) -> list[dict[str, str]]:
    tickets: list[dict[str, str]] = []
    label = ""
    current: dict[str, str] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            current["body"] = "\n".join(body).strip()
            tickets.append(current)

    for line in path.read_text().splitlines():
        if line.startswith("## "):
            close()
            current, body = None, []
            label = line[3:].strip()
        elif line.startswith("@ "):
            close()
            persona, subject = (part.strip() for part in line[2:].split("|", 1))
            current, body = {"label": label, "persona": persona, "subject": subject}, []
        else:
            body.append(line)
    close()
    return tickets


def typo(text: str, rng: random.Random) -> str:
    """Swap two adjacent letters in one longer word, as fast typists do."""
    words = text.split(" ")
    long_ones = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    if not long_ones:
        return text
    i = rng.choice(long_ones)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def dress(ticket: dict[str, str], rng: random.Random) -> dict[str, str]:
    body = ticket["body"]
    persona = ticket["persona"]
    starts_with_greeting = body.split(" ", 1)[0].rstrip(",").lower() in {
        "hi",
        "hello",
        "dear",
        "hey",
        "good",
        "hallo",
    }
    if not starts_with_greeting and rng.random() < 0.45:
        body = f"{rng.choice(GREETINGS)}\n\n{body}"
    if rng.random() < 0.2:
        body = typo(body, rng)
    if rng.random() < 0.55:
        name = rng.choice(NAMES)
        title = rng.choice(TITLES.get(persona, [""]))
        lines = [rng.choice(CLOSINGS), name]
        if title:
            lines.append(title)
        if persona != "end_user" or rng.random() < 0.5:
            lines.append(rng.choice(COMPANIES))
        body = f"{body}\n\n" + "\n".join(lines)
        if rng.random() < 0.2:
            body += f"\n\n{DISCLAIMER}"
    if rng.random() < 0.12:
        body += "\n\n" + rng.choice(QUOTED)
    channel = "email"
    if persona == "end_user" and rng.random() < 0.35:
        channel = rng.choice(["chat", "portal"])
    return {**ticket, "body": body, "channel": channel}


def is_heldout(ticket_id: str) -> bool:
    return int(hashlib.sha256(ticket_id.encode()).hexdigest()[:8], 16) / 2**32 < HELDOUT_SHARE


def bug_pairs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pairs of bug reports from ``source/bugs-*.yaml``: every two reports of one defect
    are a duplicate pair; every report of one defect against every report of the other
    defect of its family (same area, shared words) is a near-miss. A whole family is held
    out or not (its defects never straddle the split), by the same hash rule as tickets."""
    train: list[dict[str, Any]] = []
    heldout: list[dict[str, Any]] = []
    for path in sorted((HERE / "source").glob("bugs-*.yaml")):
        for family in yaml.safe_load(path.read_text()):
            name = family["family"]
            first, second = family["bugs"]
            pairs = [
                (a, b, True, f"{name}/{n}")
                for n, bug in enumerate((first, second))
                for a, b in itertools.combinations(bug, 2)
            ] + [(a, b, False, f"{name}/x") for a in first for b in second]
            target = heldout if is_heldout(f"bugs:{name}") else train
            for i, (a, b, duplicate, group) in enumerate(pairs):
                target.append(
                    {
                        "id": f"{name}-{i:02d}",
                        "family": name,
                        "group": group,
                        "duplicate": duplicate,
                        "a": _report(a),
                        "b": _report(b),
                    }
                )
    return train, heldout


def _report(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": raw["title"],
        "description": raw.get("description", ""),
        "steps": list(raw.get("steps", [])),
        "actual": raw.get("actual", ""),
        "error": raw.get("error", ""),
        "environment": {
            k: str(v) for k, v in raw.get("environment", {}).items() if k != "tenant_configuration"
        }
        | (
            {
                "tenant_configuration": {
                    str(k): str(v) for k, v in raw["environment"]["tenant_configuration"].items()
                }
            }
            if "tenant_configuration" in raw.get("environment", {})
            else {}
        ),
    }


def main() -> None:
    train_pairs, heldout_pairs = bug_pairs()
    for path, pairs in ((BUGS_TRAIN, train_pairs), (BUGS_HELDOUT, heldout_pairs)):
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    dup = sum(p["duplicate"] for p in train_pairs + heldout_pairs)
    print(  # noqa: T201
        f"{len(train_pairs) + len(heldout_pairs)} bug pairs ({dup} duplicates), "
        f"{len(heldout_pairs)} held out"
    )
    tickets = []
    for path in sorted((HERE / "source").glob("tickets-*.txt")):
        for n, raw in enumerate(parse(path), start=1):
            tid = f"{path.stem.removeprefix('tickets-')}-{n:03d}"
            rng = random.Random(tid)
            tickets.append({"id": tid, **dress(raw, rng)})
    by_label: dict[str, list[dict[str, str]]] = {}
    for t in tickets:
        by_label.setdefault(t["label"], []).append(t)
    heldout_ids = {t["id"] for t in tickets if is_heldout(t["id"])}
    fields = ["id", "label", "persona", "channel", "subject", "body"]
    TRAIN.parent.mkdir(parents=True, exist_ok=True)
    with HELDOUT.open("w") as heldout, TRAIN.open("w") as train:
        for t in tickets:
            line = json.dumps({k: t[k] for k in fields}, ensure_ascii=False) + "\n"
            (heldout if t["id"] in heldout_ids else train).write(line)
    counts = {label: len(ts) for label, ts in sorted(by_label.items())}
    print(f"{len(tickets)} tickets, {len(heldout_ids)} held out; per label: {counts}")  # noqa: T201


if __name__ == "__main__":
    main()
