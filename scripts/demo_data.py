"""What the demo writes: companies, people, and ticket texts worded so that the seeded
triage rules file them under the intended category (checked by tests/integration)."""

from __future__ import annotations

from dataclasses import dataclass, field

COMPANIES: list[tuple[str, str]] = [
    ("Northwind Traders", "northwind"),
    ("Globex Logistics", "globex"),
    ("Initech Software", "initech"),
    ("Umbrella Health", "umbrella-health"),
    ("Stark Fabrication", "stark-fab"),
    ("Wayne Analytics", "wayne-analytics"),
    ("Acme Robotics", "acme-robotics"),
    ("Hooli Cloud", "hooli"),
    ("Vandelay Imports", "vandelay"),
    ("Soylent Foods", "soylent"),
    ("Tyrell Biotech", "tyrell"),
    ("Cyberdyne Systems", "cyberdyne"),
    ("Wonka Confectionery", "wonka"),
    ("Oceanic Airlines", "oceanic"),
    ("Pied Piper", "piedpiper"),
    ("Massive Dynamic", "massive-dynamic"),
    ("Gringotts Ledger", "gringotts"),
    ("Monarch Outdoor", "monarch-outdoor"),
    ("Blue Sun Energy", "bluesun"),
    ("Dunder Paper", "dunder-paper"),
    ("Bluth Properties", "bluth"),
    ("Nakatomi Trading", "nakatomi"),
    ("Sterling Media", "sterling-media"),
    ("Prestige Worldwide", "prestige-worldwide"),
]

FIRST_NAMES = [
    "Maria", "James", "Aiko", "Liam", "Sofia", "Noah", "Priya", "Lucas", "Elena", "Omar",
    "Hannah", "Mateo", "Chloe", "Ethan", "Fatima", "Jonas", "Ines", "Kwame", "Yuki", "Leah",
    "Diego", "Nora", "Arjun", "Mia", "Tomasz", "Grace", "Ravi", "Zoe", "Felix", "Amara",
    "Oscar", "Lena", "Hugo", "Sara", "Kenji", "Ava", "Malik", "Isla", "Pablo", "Freya",
]  # fmt: skip

LAST_NAMES = [
    "Garcia", "Smith", "Tanaka", "Murphy", "Rossi", "Johnson", "Patel", "Silva", "Petrova",
    "Haddad", "Schmidt", "Lopez", "Martin", "Brown", "Khan", "Berg", "Moreau", "Mensah",
    "Sato", "Cohen", "Fernandez", "Lindqvist", "Iyer", "Nguyen", "Kowalski", "Okafor",
    "Reddy", "Dubois", "Weber", "Adeyemi", "Larsen", "Novak", "Costa", "Ali", "Yamamoto",
    "Walsh", "Jensen", "Kim", "Romero", "Fischer",
]  # fmt: skip

TIMEZONES = ["America/New_York", "Europe/Berlin", "Europe/London", "Asia/Tokyo", "UTC"]
LOCALES = ["en-US", "de-DE", "en-GB", "ja-JP", "fr-FR"]

FEATURES = [
    "the reports page",
    "saved views",
    "the audit log",
    "custom fields",
    "the Slack integration",
    "the calendar sync",
    "API tokens",
    "outgoing webhooks",
    "the mobile app",
    "the approval workflow",
]

AGENTS: list[tuple[str, str, list[str]]] = [
    ("agent-ava", "Ava Lindqvist", ["support", "access"]),
    ("agent-ben", "Ben Okafor", ["support", "product"]),
    ("agent-chen", "Chen Wei", ["billing"]),
    ("agent-dana", "Dana Moreau", ["billing", "sales"]),
    ("agent-eli", "Eli Haddad", ["access", "onboarding"]),
    ("agent-farah", "Farah Khan", ["compliance", "support"]),
    ("agent-gus", "Gus Berg", ["onboarding", "sales"]),
    ("agent-hana", "Hana Sato", ["product", "support"]),
]
"""Support agents the demo registers (ids are stable, so a second run reuses them)."""


@dataclass(frozen=True)
class TemplateSpec:
    key: str
    title: str
    body: str
    variables: list[str] = field(default_factory=list)


TEMPLATES = [
    TemplateSpec(
        key="invoice_copy",
        title="A copy of the invoice",
        body=(
            "Hello {{ requester_name }},\n\n"
            "attached is a copy of invoice {{ invoice_number }}. You can also download every "
            "invoice from Settings > Billing at any time.\n\nKind regards,\nCustomer Support"
        ),
        variables=["invoice_number"],
    ),
    TemplateSpec(
        key="how_to_article",
        title="Pointer to a help-center article",
        body=(
            "Hello {{ requester_name }},\n\n"
            "thanks for asking about {{ topic }}. Our help center walks through it step by "
            "step: {{ article_url }}\nIf anything is unclear, just reply here.\n\n"
            "Kind regards,\nCustomer Support"
        ),
        variables=["topic", "article_url"],
    ),
    TemplateSpec(
        key="feature_request_logged",
        title="Feature request logged",
        body=(
            "Hello {{ requester_name }},\n\n"
            "thank you for the suggestion. We have logged it with the product team as "
            '"{{ ticket_subject }}" and will let you know when it is scheduled.\n\n'
            "Kind regards,\nCustomer Support"
        ),
    ),
]
"""Approved reply templates the demo adds when they are missing (keys are stable)."""


@dataclass(frozen=True)
class TicketText:
    category: str
    subcategory: str | None
    subject: str
    body: str


# Placeholders: {feature}, {n}, {first}, {company}. Each text must reach its category
# through the seeded rules and no earlier one (keywords match whole words, in order).
TEXTS: dict[tuple[str, str | None], list[tuple[str, str]]] = {
    ("access", "mfa"): [
        (
            "Lost my phone, cannot get my MFA code",
            "Hi, my phone was stolen yesterday and the authenticator app was on it. "
            "I need my MFA reset so I can get back to work.\n\n{first}",
        ),
        (
            "2FA codes rejected after changing phones",
            "I moved to a new phone and every 2FA code is refused. Can you reset the "
            "second factor for me?\n\nThanks, {first}",
        ),
        (
            "Two-factor prompt loops forever",
            "After entering the one-time code the two-factor prompt just comes back. "
            "Tried {n} times now.\n\n{first} ({company})",
        ),
    ],
    ("access", "activation"): [
        (
            "Activation link expired",
            "Our new colleague got the activation link last week but it says expired. "
            "Could you send a fresh one?\n\n{first}",
        ),
        (
            "Never received the invitation",
            "We invited {n} people from {company} but one of them never got the invitation "
            "e-mail (checked spam too).\n\n{first}",
        ),
        (
            "Welcome email did not arrive",
            "I was told a welcome email would arrive with my activation details; nothing "
            "so far.\n\nBest, {first}",
        ),
    ],
    ("access", "inactive"): [
        (
            "My account was deactivated by mistake",
            "I came back from parental leave and my account is deactivated. My manager "
            "confirms I still need access.\n\n{first}, {company}",
        ),
        (
            "Account disabled after vacation",
            "It says account disabled when I open the app. Please restore it.\n\n{first}",
        ),
    ],
    ("access", "login"): [
        (
            "Locked out after password change",
            "I changed my password this morning and now I am locked out. The reset page "
            "says the account is locked.\n\n{first}",
        ),
        (
            "Cannot sign in since this morning",
            "When I try to sign in I get sent back to the start page. Colleagues at "
            "{company} have the same issue.\n\n{first}",
        ),
        (
            "Login page keeps reloading",
            "The login page reloads every time I submit. Cleared cookies, same thing.\n\n{first}",
        ),
    ],
    ("billing", None): [
        (
            "Need a copy of last month's invoice",
            "Our accounting team needs a PDF copy of last month's invoice with our VAT "
            "number on it.\n\n{first}, {company}",
        ),
        (
            "We were charged twice",
            "Our card was charged twice this month for the same amount. Please refund "
            "the duplicate.\n\n{first}",
        ),
        (
            "Update the credit card on file",
            "Our company credit card changes next week. Where do we enter the new one so "
            "the next payment does not fail?\n\n{first}",
        ),
        (
            "Receipt shows the wrong company address",
            "The receipt we got lists our old address. Can it be corrected?\n\n{first}",
        ),
    ],
    ("subscription", None): [
        (
            "Add {n} more seats",
            "We are hiring and need {n} more seats from next week.\n\n{first}, {company}",
        ),
        (
            "Question about our renewal date",
            "When does our subscription renew, and can we move the renewal to the "
            "first of the month?\n\n{first}",
        ),
        (
            "Upgrade to the enterprise tier",
            "We would like to upgrade so we get SSO enforcement and the longer audit "
            "history.\n\n{first}",
        ),
        (
            "Downgrade at the end of the term",
            "Budget cuts: please downgrade us to fewer seats when the current term "
            "ends.\n\n{first}",
        ),
    ],
    ("compliance_guidance", None): [
        (
            "GDPR data processing agreement",
            "Legal asks for your DPA and the list of sub-processors before we roll out "
            "to the EU team.\n\n{first}, {company}",
        ),
        (
            "SOC 2 report request",
            "Our security review needs your latest SOC 2 Type II report.\n\n{first}",
        ),
        (
            "HIPAA and patient notes",
            "Can we store patient notes in custom fields under HIPAA? What do you "
            "recommend?\n\n{first}",
        ),
    ],
    ("sales", None): [
        (
            "Pricing for {n} more teams",
            "We are evaluating rolling out to {n} more teams at {company}. Can you send a "
            "quote?\n\n{first}",
        ),
        (
            "Discount for a non-profit",
            "We are a registered non-profit. Do you offer a discount?\n\n{first}",
        ),
        (
            "Trial extension for our pilot",
            "Our pilot group needs two more weeks. Is a trial extension possible?\n\n{first}",
        ),
    ],
    ("onboarding", None): [
        (
            "Help getting started with {feature}",
            "We are new and would like a short session on getting started with {feature} "
            "for our admins.\n\n{first}, {company}",
        ),
        (
            "Import data from our old tool",
            "We need to import data from our previous help desk ({n} thousand records). "
            "What format do you accept?\n\n{first}",
        ),
        (
            "Onboarding call for the team",
            "Could we book an onboarding call for our team leads next week?\n\n{first}",
        ),
    ],
    ("potential_bug", None): [
        (
            "{feature} shows an error",
            "Since yesterday {feature} shows 'Something went wrong' with error code "
            "E{n}. Reloading does not help.\n\n{first}, {company}",
        ),
        (
            "Mobile app crashes when opening {feature}",
            "The app crashes every time I open {feature}. Happens on two devices.\n\n{first}",
        ),
        (
            "Filters broken on {feature}",
            "The date filter on {feature} is broken: choosing a range returns nothing "
            "although there is data.\n\n{first}",
        ),
    ],
    ("feature_request", None): [
        (
            "Feature request: dark mode",
            "It would be great to have a dark mode for the agents working night "
            "shifts.\n\n{first}, {company}",
        ),
        (
            "Please add bulk edit to {feature}",
            "Please add a way to edit many records at once in {feature}; we update "
            "{n} records by hand every week.\n\n{first}",
        ),
        (
            "Wish: scheduled exports",
            "Our wish for next quarter: scheduled exports to our data warehouse.\n\n{first}",
        ),
    ],
    ("platform_question", None): [
        (
            "How do I share {feature} with a colleague?",
            "How do I give a colleague read access to {feature} without making them an "
            "admin?\n\n{first}, {company}",
        ),
        (
            "Is it possible to rename a workspace?",
            "Is it possible to rename a workspace without losing its history?\n\n{first}",
        ),
        (
            "Where can I find the API rate limits?",
            "Where can I find the rate limits for the REST API? We call it about {n} times "
            "a minute.\n\n{first}",
        ),
    ],
    ("other", None): [
        (
            "Thanks for the quick help",
            "Just wanted to say thanks to the team for the quick help last week.\n\n{first}, "
            "{company}",
        ),
        (
            "New main contact at {company}",
            "From next month our main contact will be {first}. Please update your records."
            "\n\nRegards",
        ),
        (
            "Office closed over the holidays",
            "Our office is closed between the holidays; replies from us may take a few "
            "days.\n\n{first}",
        ),
    ],
}

TICKET_MIX: list[tuple[tuple[str, str | None], float]] = [
    (("potential_bug", None), 0.12),
    (("access", "login"), 0.07),
    (("access", "mfa"), 0.05),
    (("access", "activation"), 0.04),
    (("access", "inactive"), 0.03),
    (("billing", None), 0.11),
    (("subscription", None), 0.08),
    (("onboarding", None), 0.08),
    (("platform_question", None), 0.14),
    (("sales", None), 0.06),
    (("compliance_guidance", None), 0.05),
    (("feature_request", None), 0.09),
    (("other", None), 0.08),
]
"""Share of each category among the customers' tickets (the order sets who gets the
first tickets when there are only a few: a bug first, so duplicates are possible)."""

CHANNEL_MIX: list[tuple[str, float]] = [
    ("email", 0.35),
    ("web", 0.25),
    ("chat", 0.15),
    ("phone", 0.10),
    ("api", 0.08),
    ("social", 0.07),
]


@dataclass(frozen=True)
class BugGroup:
    """One real defect several customers report in their own words."""

    titles: list[str]
    steps: list[str]
    expected: str
    actual: str
    severity: str
    environment: dict[str, str]
    target: str
    """How far QA takes it in the demo: reported, needs_info, reproduced, escalated,
    cannot_reproduce or fixed."""
    fixed_in_version: str | None = None


BUG_GROUPS = [
    BugGroup(
        titles=[
            "CSV export of reports fails with error 500",
            "Exporting reports to CSV fails with a 500 error",
            "CSV export fails with error 500 on large reports",
        ],
        steps=[
            "Open Reports and choose the last 90 days",
            "Click Export and pick CSV",
            "Wait for the download",
        ],
        expected="A CSV file with every report row is downloaded",
        actual="The page shows Internal Server Error (500) and no file is downloaded",
        severity="high",
        environment={"app_version": "4.12.1", "browser": "Chrome 131", "os": "Windows 11"},
        target="fixed",
        fixed_in_version="4.12.2",
    ),
    BugGroup(
        titles=[
            "Dashboard charts broken after the last update",
            "Dashboard charts are broken since the update",
            "Charts on the dashboard broken after update",
        ],
        steps=[
            "Open the dashboard",
            "Select the weekly view",
            "Look at the response-time chart",
        ],
        expected="The chart shows one bar per day of the week",
        actual="The chart area stays empty and the console shows a TypeError exception",
        severity="medium",
        environment={"app_version": "4.12.1", "browser": "Firefox 133", "os": "macOS 15"},
        target="escalated",
    ),
    BugGroup(
        titles=[
            "Attachments do not upload in Safari",
            "Uploading attachments in Safari is not working",
            "Safari: attachments do not upload",
        ],
        steps=[
            "Open any record in Safari",
            "Drag a PDF onto the attachments area",
            "Watch the progress bar",
        ],
        expected="The PDF is attached to the record",
        actual="The progress bar stops at 99% and the attachment is not saved",
        severity="medium",
        environment={"app_version": "4.12.0", "browser": "Safari 18", "os": "macOS 15"},
        target="reproduced",
    ),
    BugGroup(
        titles=[
            "Outgoing webhooks fail with 502 errors",
            "Webhook deliveries fail with error 502",
        ],
        steps=[
            "Configure an outgoing webhook to a reachable HTTPS endpoint",
            "Create a record that triggers it",
            "Open the delivery log",
        ],
        expected="The delivery log shows a 200 response from our endpoint",
        actual="Every delivery is logged as 502 Bad Gateway and retried until it gives up",
        severity="high",
        environment={"app_version": "4.12.1", "os": "Ubuntu 24.04"},
        target="reported",
    ),
    BugGroup(
        titles=[
            "Search crashes on quoted phrases",
            "Quoted phrase search crashes the results page",
        ],
        steps=["Type a phrase in double quotes into global search", "Press Enter"],
        expected="Records containing the exact phrase are listed",
        actual="The results page crashes with an unexpected error",
        severity="low",
        environment={"app_version": "4.11.9", "browser": "Edge 131", "os": "Windows 10"},
        target="needs_info",
    ),
    BugGroup(
        titles=[
            "Mobile app crashes on launch on Android 14",
            "Android 14: the mobile app crashes at launch",
        ],
        steps=["Install the app from the Play Store", "Open it on an Android 14 phone"],
        expected="The app opens the inbox",
        actual="The app crashes right after the splash screen",
        severity="critical",
        environment={"app_version": "mobile 2.8.0", "os": "Android 14"},
        target="cannot_reproduce",
    ),
]
