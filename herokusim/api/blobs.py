"""api/blobs: the signed URLs of blobs the Platform API hands out (a slug's `blob.url`), as Heroku's are
pre-signed: whoever holds the URL may fetch the blob, no token needed; the signature ties it to this
daemon's token, one kind of blob and one id."""

from __future__ import annotations

import hashlib
import hmac


def blob_signature(token: str, kind: str, blob_id: str) -> str:
    return hmac.new(token.encode(), f"{kind}:{blob_id}".encode(), hashlib.sha256).hexdigest()[:32]


def slug_blob_url(api_url: str, token: str, slug_id: str) -> str:
    return f"{api_url}/blobs/slugs/{slug_id}?signature={blob_signature(token, 'slug', slug_id)}"
