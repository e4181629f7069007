"""Triage patterns compiled with RE2, so matching time is linear in the text.

Python's ``re`` backtracks: a rule such as ``(a|a)*$`` takes exponential time on a
crafted ticket body and stalls ticket creation for everyone. RE2 (Google's automaton
engine, ``google-re2``) guarantees linear-time matching by refusing the features that need
backtracking (backreferences, lookaround). A pattern RE2 cannot compile is refused when the
rule is written, never discovered when a ticket arrives.
"""

from __future__ import annotations

from functools import lru_cache

import re2


class PatternRefused(ValueError):
    """RE2 cannot compile the pattern; the message names the pattern and RE2's reason."""


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    # RE2 logs every parse error to stderr by default; the error is reported to the caller.
    options.log_errors = False
    return options


_OPTIONS = _options()


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled, case-insensitive pattern; cached since rules repeat on every ticket."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternRefused(
            f"pattern {pattern!r} is not accepted by RE2 (linear-time matching): {reason}"
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text``, in time linear in ``len(text)``."""
    return compile_pattern(pattern).search(text) is not None
