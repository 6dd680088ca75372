"""auth: the one check of a client's credentials, shared by api/ and git/ (Heroku's: a Bearer token, or HTTP
Basic with the token as the password and any user name).

Credentials are compared as bytes: a client may send anything in a header, and whatever is not the
token, ASCII or not, UTF-8 or not, is just a wrong token (never an exception on our side).
"""

from __future__ import annotations

import base64
import hmac


def basic_password(header: str | bytes) -> bytes | None:
    """The password of an `Authorization: Basic ...` header, as bytes; None for any other or a malformed one."""
    raw = header.encode("utf-8", "surrogateescape") if isinstance(header, str) else header
    scheme, _, encoded = raw.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error for bad base64, ValueError for a byte outside its alphabet
        return None
    _, colon, password = decoded.partition(b":")
    return password if colon else None


def matches(offered: bytes | None, token: str) -> bool:
    """Whether the offered credential is the token (in constant time)."""
    return bool(offered) and hmac.compare_digest(offered, token.encode())  # type: ignore[arg-type]
