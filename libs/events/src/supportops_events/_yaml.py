"""A tiny block-style YAML writer for JSON-compatible data, so the library needs no PyYAML."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Keys written without quotes; anything else (and YAML 1.1 booleans / nulls) is quoted.
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$/-]*$")
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"})


def dump(value: Any) -> str:
    """``value`` (dicts, lists, str, int, float, bool, None) as a YAML document."""
    lines: list[str] = []
    if isinstance(value, Mapping) and value:
        _mapping(value, 0, lines)
    elif isinstance(value, list) and value:
        _sequence(value, 0, lines)
    else:
        lines.append(_scalar(value))
    return "\n".join(lines) + "\n"


def _mapping(mapping: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"YAML keys must be strings, got {key!r}")
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{_key(key)}:")
            _mapping(value, indent + 2, lines)
        elif _is_sequence(value) and value:
            lines.append(f"{pad}{_key(key)}:")
            _sequence(value, indent + 2, lines)
        else:
            lines.append(f"{pad}{_key(key)}: {_scalar(value)}")


def _sequence(items: Sequence[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if (isinstance(item, Mapping) or _is_sequence(item)) and item:
            nested: list[str] = []
            if isinstance(item, Mapping):
                _mapping(item, indent + 2, nested)
            else:
                _sequence(item, indent + 2, nested)
            # The first line of the nested block goes right after the dash.
            lines.append(f"{pad}- {nested[0][indent + 2 :]}")
            lines.extend(nested[1:])
        else:
            lines.append(f"{pad}- {_scalar(item)}")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _key(key: str) -> str:
    if _PLAIN_KEY.match(key) and key.lower() not in _RESERVED:
        return key
    return _quote(key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Mapping):
        return "{}"
    if _is_sequence(value):
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _quote(text: str) -> str:
    """A double-quoted YAML scalar; escapes everything YAML would fold or reject."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif (
            code < 0x20
            or 0x7F <= code <= 0x9F
            or code in (0x2028, 0x2029, 0xFEFF)
            or 0xD800 <= code <= 0xDFFF
        ):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
