"""Untrusted text on its way out: terminals (escape sequences), spreadsheets (formulas) and logs (credentials).

Model cards, file names and stream URLs come from outside; printing them raw lets a file retitle or clear the
user's terminal, a CSV cell starting with ``=`` runs as a formula when opened in a spreadsheet, and a camera URL
carries its password into every log line.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import unquote

__all__ = ["terminal_safe", "spreadsheet_safe", "redact_url"]

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_SECRET_KEY = re.compile(r"pass|pwd|token|secret|key|auth|sig|cred|session|sid|jwt|bearer", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)(.*)$", re.DOTALL)
MASK = "***"


def terminal_safe(text: Any) -> str:
    """``text`` with control characters (ESC, BEL, CR, ...) and bidirectional overrides shown as escapes
    (``\\x1b``, ``\\u202e``), so printing it cannot move the cursor, recolour or retitle the terminal."""
    out = []
    for ch in str(text):
        if ch in _BIDI or (unicodedata.category(ch) == "Cc" and ch != "\n"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: strings starting with ``= + - @`` (or tab/CR) get a leading
    apostrophe (OWASP's CSV-injection rule); numbers and other strings are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)  # "-0.5" is a number, not a formula
            return value
        except ValueError:
            return "'" + value
    return value


def redact_url(url: str) -> str:
    """``url`` with its password (``user:***@host``) and secret-looking query values (``?token=***``) hidden.

    The user part ends at the last ``@`` before the query, so a password containing ``@`` or ``/``
    (``rtsp://admin:p@ss@cam``, ``rtsp://admin:a/b@cam``) is hidden whole. A user name without password is kept.
    """
    text = str(url)
    match = _SCHEME.match(text)
    if not match:
        return text
    scheme, rest = match.groups()
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    at = head.rfind("@")
    if at >= 0:
        user, host = head[:at], head[at + 1 :]
        name, colon, _ = user.partition(":")
        head = f"{name}:{MASK}@{host}" if colon else f"{user}@{host}"
    if tail.startswith("?"):
        query, hash_sign, fragment = tail[1:].partition("#")
        parts = []
        for part in re.split(r"([&;])", query):
            key, eq, _ = part.partition("=")
            parts.append(f"{key}={MASK}" if eq and _SECRET_KEY.search(unquote(key)) else part)
        query = "".join(parts)
        tail = "?" + query + hash_sign + fragment
    return scheme + head + tail
