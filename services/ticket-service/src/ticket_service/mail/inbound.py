"""Raw inbound mail (``message/rfc822``) read with the standard library.

``parse`` turns the bytes a mail provider forwards into what intake needs: the sender,
the threading headers, readable text and the attachments. Any charset and transfer
encoding (quoted-printable, base64) is decoded by ``email`` with ``policy.default``; of
a ``multipart/alternative`` the plain part is read, or the HTML one turned into text
(``html.parser``); the quoted history of a reply is trimmed (``mail-parser-reply``).

``loop_reason`` says why a message must make no ticket and no mail (RFC 3834): an
``Auto-Submitted`` other than ``no``, ``Precedence: bulk``/``auto_reply``/``junk``/``list``,
auto-responder markers, or a bounce (``multipart/report``, a mailer-daemon sender).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import cast

from mailparser_reply import EmailReplyParser

MAX_TEXT = 50_000
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "pt"]
_MSGID = re.compile(r"<[^<>\s]+>")


class UnreadableMail(ValueError):
    """The bytes are not a mail intake can use (no sender address)."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    sender_email: str
    sender_name: str | None
    subject: str
    text: str
    attachments: list[ParsedAttachment]
    loop_reason: str | None
    loop_detail: str | None


def parse(raw: bytes) -> ParsedMail:
    message = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(raw)
    senders = [(n, a) for n, a in getaddresses([str(v) for v in message.get_all("From", [])]) if a]
    if not senders or "@" not in senders[0][1]:
        raise UnreadableMail("the message has no From address")
    name, address = senders[0]
    message_id = _first_id(message["Message-ID"]) or (
        # no Message-ID: one from the bytes, so a retried delivery is still a duplicate
        f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"
    )
    references = _MSGID.findall(str(message["References"] or ""))
    reason, detail = loop_reason(message, address)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=_first_id(message["In-Reply-To"]),
        references=references[-100:],
        sender_email=address.lower(),
        sender_name=name or None,
        subject=" ".join(str(message["Subject"] or "").split())[:300] or "(no subject)",
        text=readable_text(message),
        attachments=[] if reason else attachments_of(message),
        loop_reason=reason,
        loop_detail=detail,
    )


def _first_id(value: object) -> str | None:
    if value is None:
        return None
    found: list[str] = _MSGID.findall(str(value))
    if found:
        return found[0]
    text = str(value).strip()
    return f"<{text}>" if text else None


def loop_reason(message: EmailMessage, sender: str) -> tuple[str | None, str | None]:
    auto = str(message["Auto-Submitted"] or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto-submitted", f"Auto-Submitted: {auto}"
    precedence = str(message["Precedence"] or "").strip().lower()
    if precedence in ("bulk", "auto_reply", "junk", "list"):
        return "precedence", f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        value = str(message[header] or "").strip().lower()
        if value and (header != "X-Auto-Response-Suppress" or "all" in value or "oof" in value):
            return "auto-reply", f"{header}: {value}"
    if message.get_content_type() == "multipart/report":
        report = message.get_param("report-type") or "report"
        return "bounce", f"multipart/report; report-type={report}"
    local = sender.rsplit("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return "bounce", f"sent by {sender}"
    return None, None


def readable_text(message: EmailMessage) -> str:
    """The new words of the message: plain text (or HTML as text), quoted history trimmed."""
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return "(no text)"
    part = cast(EmailMessage, body)
    content: str
    try:
        got = part.get_content()
        content = got if isinstance(got, str) else _bytes_of(part).decode("utf-8", "replace")
    except (LookupError, UnicodeError):  # an unknown charset: read what we can
        content = _bytes_of(part).decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    content = content.replace("\r\n", "\n").strip()
    trimmed = trim_quoted(content)
    return (trimmed or content or "(no text)")[:MAX_TEXT]


def _bytes_of(part: EmailMessage) -> bytes:
    """The decoded bytes of a leaf part (transfer encoding undone)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def trim_quoted(text: str) -> str:
    try:
        reply = EmailReplyParser(languages=REPLY_LANGUAGES).parse_reply(text=text)
        return str(reply).strip()
    except Exception:  # a parser hiccup must not lose the customer's mail
        return text


def attachments_of(message: EmailMessage) -> list[ParsedAttachment]:
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition != "attachment" and not (disposition == "inline" and filename):
            continue
        if part.get_content_type() == "message/rfc822":
            continue  # forwarded mail as an attachment: kept in the text, not a file
        content = _bytes_of(part)
        found.append(
            ParsedAttachment(
                filename=(filename or "attachment").replace("/", "_")[:255],
                content_type=part.get_content_type()[:255],
                content=content,
            )
        )
    return found


class _TextExtractor(HTMLParser):
    PARAGRAPH = frozenset(
        {"p", "div", "ul", "ol", "table", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    LINE = frozenset({"br", "tr", "li"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.PARAGRAPH:
            self.parts.append("\n\n")
        elif tag in self.LINE:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.PARAGRAPH:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML mail: blocks on their own lines, no scripts or styles."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
