"""Approved response templates: sandboxed rendering with declared variables."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, Forbidden, NotFound, Unprocessable
from servicekit.merge_patch import apply_merge_patch
from servicekit.pagination import PageParams
from ticket_service.models import Template, Ticket, TimelineEntry
from ticket_service.templates import repository
from ticket_service.templates.schemas import TemplateIn, TemplateSettable
from ticket_service.tickets.schemas import MessageKind
from ticket_service.tickets.service import add_message
from ticket_service.tickets.timeline import Actor


class _Sandbox(SandboxedEnvironment):
    """The sandbox also refuses the operators that build huge values (``'x' * 10**9``)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" or isinstance(left, str | list) or isinstance(right, str | list):
            raise SecurityError(f"the operator {operator!r} is not allowed here")
        return super().call_binop(context, operator, left, right)


# plain text parts: nothing is escaped (a text part is not markup)
_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)
# HTML parts: every value is escaped by autoescape, and the template's own text too
# (``_escaped_text``), so neither an author nor a requester can put markup in a mail
_HTML_ENV = _Sandbox(undefined=StrictUndefined, autoescape=True)
RENDER_ERRORS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError)


def _escaped_text(body: str) -> nodes.Template:
    """The parsed template with its literal text escaped and line breaks as ``<br>``;
    autoescape then takes that text as safe markup and escapes only the values."""
    parsed = _HTML_ENV.parse(body)
    for data in parsed.find_all(nodes.TemplateData):
        data.data = str(escape(data.data)).replace("\n", "<br>\n")
    return parsed


def render_html(body: str, *, declared: list[str], values: dict[str, Any]) -> str:
    """The HTML part of ``body``: template text and values escaped."""
    return render(body, declared=declared, values=values, html=True)


def render(body: str, *, declared: list[str], values: dict[str, Any], html: bool = False) -> str:
    """Render ``body`` in the sandbox; a declared variable without a value is a 422."""
    missing = [name for name in declared if name not in values]
    if missing:
        raise Unprocessable(
            f"missing template variable: {', '.join(missing)}",
            code="template-variable-missing",
            field="variables",
            missing=missing,
        )
    try:
        if html:
            return _HTML_ENV.from_string(_escaped_text(body)).render(**values)
        return _ENV.from_string(body).render(**values)
    except UndefinedError as exc:
        raise Unprocessable(
            f"the template uses an undeclared variable: {exc.message}",
            code="template-variable-missing",
            field="variables",
        ) from exc
    except TemplateSyntaxError as exc:
        raise Unprocessable(f"the template is invalid: {exc.message}", field="body") from exc
    except SecurityError as exc:
        raise Unprocessable(
            f"the template does something the sandbox forbids: {exc}",
            code="template-unsafe",
            field="body",
        ) from exc
    except RENDER_ERRORS as exc:
        raise Unprocessable(
            f"the template cannot be rendered: {exc}", code="template-render-failed", field="body"
        ) from exc


def check_template(body: str, *, declared: list[str]) -> None:
    """The body must parse, and use only the variables it declares (plus built-ins)."""
    try:
        parsed = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise Unprocessable(
            f"the template is invalid: {exc.message}", code="template-invalid", field="body"
        ) from exc
    undeclared = sorted(meta.find_undeclared_variables(parsed) - set(declared) - set(BUILTINS))
    if undeclared:
        raise Unprocessable(
            f"the template uses undeclared variables: {', '.join(undeclared)}",
            code="template-undeclared-variable",
            field="variables",
            undeclared=undeclared,
        )


BUILTINS = ("requester_name", "requester_email", "ticket_subject", "ticket_id")


def ticket_variables(ticket: Ticket) -> dict[str, str]:
    """Variables every template may use, filled from the ticket."""
    return {
        "requester_name": ticket.requester_name or "there",
        "requester_email": ticket.requester_email,
        "ticket_subject": ticket.subject,
        "ticket_id": str(ticket.id),
    }


async def version_of(session: AsyncSession, key: str, version: int) -> Template:
    found = await repository.version_of(session, key, version)
    if found is None:
        raise NotFound("no such template version", code="template-not-found")
    return found


async def templates_page(
    session: AsyncSession, params: PageParams
) -> tuple[list[Template], str | None]:
    return await repository.newest_page(session, params)


async def latest(session: AsyncSession, key: str) -> Template:
    template = await repository.newest(session, key)
    if template is None:
        raise NotFound(f"no template {key!r}", code="template-not-found")
    return template


async def create(session: AsyncSession, *, body: TemplateIn, author: str) -> Template:
    check_template(body.body, declared=body.variables)
    if await repository.key_exists(session, body.key):
        raise Conflict(
            "a template with this key exists; edit it to add a version", code="template-exists"
        )
    template = Template(
        id=uuid.uuid4(),
        key=body.key,
        version=1,
        title=body.title,
        body=body.body,
        variables=list(body.variables),
        approved=False,
        created_by=author,
    )
    if not await repository.insert_unique(session, template, refresh=True):
        raise Conflict(
            "a template with this key exists; edit it to add a version", code="template-exists"
        )
    return template


def merged_edit(current: Template, patch: Mapping[str, Any]) -> TemplateSettable:
    """The next version: ``patch`` (an RFC 7396 merge patch) applied to ``current``. The
    next version starts unapproved whatever the current one is."""
    document = {
        "title": current.title,
        "body": current.body,
        "variables": list(current.variables),
        "approved": False,
    }
    return apply_merge_patch(TemplateSettable, document=document, patch=patch)


async def edit(
    session: AsyncSession, *, current: Template, merged: TemplateSettable, author: str
) -> Template:
    """Editing never changes a sent version: it adds the next one, unapproved, while the
    last approved version stays the one replies use."""
    check_template(merged.body, declared=list(merged.variables))
    template = Template(
        id=uuid.uuid4(),
        key=current.key,
        version=current.version + 1,
        title=merged.title,
        body=merged.body,
        variables=list(merged.variables),
        approved=False,
        created_by=author,
    )
    if not await repository.insert_unique(session, template, refresh=True):
        raise Conflict("the template was edited concurrently", code="version-conflict")
    return template


async def reply_with_template(
    session: AsyncSession,
    *,
    ticket: Ticket,
    key: str,
    variables: dict[str, str],
    actor: Actor,
    at: datetime,
) -> TimelineEntry:
    """A public reply through the template path: the newest approved version only."""
    try:
        template = await latest_approved(session, key)
    except NotFound:
        draft = await latest(session, key)  # 404 when there is no such template at all
        raise Conflict(
            f"template {key!r} has no approved version (version {draft.version} awaits "
            "approval by a second person)",
            code="template-not-approved",
        ) from None
    return await _reply(
        session,
        ticket=ticket,
        template=template,
        values={**ticket_variables(ticket), **variables},
        actor=actor,
        at=at,
    )


async def send_approved_reply(
    session: AsyncSession,
    *,
    ticket: Ticket,
    key: str,
    values: dict[str, Any],
    at: datetime,
    actor: Actor,
    action: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """A public reply from the newest approved version of ``key`` (the system's replies:
    access outcomes, bug fixes, surveys)."""
    template = await latest_approved(session, key)
    return await _reply(
        session,
        ticket=ticket,
        template=template,
        values=values,
        actor=actor,
        at=at,
        action=action,
        data=data,
    )


async def _reply(
    session: AsyncSession,
    *,
    ticket: Ticket,
    template: Template,
    values: dict[str, Any],
    actor: Actor,
    at: datetime,
    action: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Render ``template`` and post it as a public reply recording the version sent;
    the entry keeps the HTML part beside the text (``data.html``) for outbound mail."""
    declared = list(template.variables)
    return await add_message(
        session,
        ticket=ticket,
        kind=MessageKind.reply,
        body=render(template.body, declared=declared, values=values),
        actor=actor,
        at=at,
        template_key=template.key,
        template_version=template.version,
        action=action,
        data={**(data or {}), "html": render_html(template.body, declared=declared, values=values)},
    )


async def latest_approved(session: AsyncSession, key: str) -> Template:
    template = await repository.newest(session, key, approved_only=True)
    if template is None:
        raise NotFound(f"no approved template {key!r}", code="template-not-found")
    return template


async def approve(
    session: AsyncSession, *, key: str, version: int, approver: str, at: datetime
) -> Template:
    """Four eyes: a version goes to customers only once someone other than its author
    approved it; replies then use it (the newest approved version)."""
    template = await repository.lock_version(session, key, version)
    if template is None:
        raise NotFound("no such template version", code="template-not-found")
    if template.approved:
        raise Conflict(
            f"template {key!r} version {version} is already approved",
            code="template-already-approved",
            approved_by=template.approved_by,
        )
    if template.created_by is not None and template.created_by == approver:
        raise Forbidden(
            "the author of a template version cannot approve it: a second person must",
            code="four-eyes",
            author=template.created_by,
        )
    template.approved = True
    template.approved_by = approver
    template.approved_at = at
    await session.flush()
    return template
