"""api/blobs: slug tarballs at signed URLs, as Heroku hands out S3 URLs — `GET /blobs/slugs/{id}?signature=`
downloads a slug, `PUT` to the same URL uploads the tarball of a slug made by `POST /apps/{app}/slugs`.

No Authorization header: the signature (an HMAC of the slug id under the daemon's token) is the secret, so a
client passes the URL to curl as it would Heroku's. A bad or missing signature is 403 `forbidden`.

An upload streams to disk beside the slug (at most Heroku's 500 MB), must be a gzipped tar, and lands whole or
not at all (renamed into place). Heroku's slug layout (`./app/...`, as `tar czf slug.tgz ./app` makes it) is
stored as herokusim's own (the app's files at the tarball's root: what dynos unpack at /app). Its checksum is
recorded; one given when the slug was created must match what is uploaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import tarfile
from pathlib import Path

from aiohttp import web

from herokusim.api.responses import platform_of
from herokusim.builds.compiler import SLUG_HARD_LIMIT
from herokusim.errors import Conflict, InvalidParams, NotFound, PlatformError
from herokusim.store.models import Slug


def blob_signature(token: str, kind: str, blob_id: str) -> str:
    return hmac.new(token.encode(), f"{kind}:{blob_id}".encode(), hashlib.sha256).hexdigest()[:32]


def slug_blob_url(api_url: str, token: str, slug_id: str) -> str:
    return f"{api_url}/blobs/slugs/{slug_id}?signature={blob_signature(token, 'slug', slug_id)}"


# --- the handlers -------------------------------------------------------------------------------------------

routes = web.RouteTableDef()
UPLOADS = web.AppKey("slug_uploads", set)  # ids of slugs whose upload is under way
_CHUNK = 1024 * 1024


class _Forbidden(PlatformError):
    status = 403
    id = "forbidden"


class _TooLarge(PlatformError):
    status = 413
    id = "request_entity_too_large"


def _check_signature(request: web.Request, slug_id: str) -> None:
    offered = request.query.get("signature", "")
    expected = blob_signature(platform_of(request).token, "slug", slug_id)
    if not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected.encode()):
        raise _Forbidden("This blob URL's signature is missing or wrong: use the blob.url the API gave.")


async def _signed_slug(request: web.Request) -> Slug:
    slug_id = request.match_info["slug"]
    _check_signature(request, slug_id)  # before anything is looked up: no answer tells whether a slug exists
    slug = await platform_of(request).store.find_slug(slug_id)
    if slug is None:
        raise NotFound(f"Couldn't find that slug ({slug_id}).")
    return slug


@routes.get("/blobs/slugs/{slug}")
async def _get_slug_blob(request: web.Request) -> web.StreamResponse:
    slug = await _signed_slug(request)
    if not slug.uploaded:
        raise NotFound(f"Slug {slug.id} has no tarball yet: PUT one to this URL first.")
    if not await asyncio.to_thread(os.path.isfile, slug.path):
        raise NotFound(f"Slug {slug.id}'s tarball is gone (its app was destroyed).")
    return web.FileResponse(slug.path, headers={"Content-Type": "application/octet-stream"})


@routes.put("/blobs/slugs/{slug}")
async def _put_slug_blob(request: web.Request) -> web.Response:
    slug = await _signed_slug(request)
    if slug.uploaded:
        raise Conflict(f"Slug {slug.id} already has its tarball: a slug cannot change. Create another slug.")
    uploads = request.app[UPLOADS]
    if slug.id in uploads:
        raise Conflict(f"Slug {slug.id}'s tarball is being uploaded by another request.")
    if request.content_length is not None and request.content_length > SLUG_HARD_LIMIT:
        raise _TooLarge(f"The slug is {request.content_length} bytes: at most {SLUG_HARD_LIMIT} (500 MB) are allowed.")
    uploads.add(slug.id)
    final = Path(slug.path)
    partial = final.with_name(f".{slug.id}.upload-{secrets.token_hex(4)}")
    try:
        await _receive(request, partial)
        checksum, size = await asyncio.to_thread(_store_slug, partial, final, slug.checksum)
        if not await platform_of(request).store.set_slug_uploaded(slug.id, checksum, size):
            await asyncio.to_thread(final.unlink, missing_ok=True)
            raise NotFound(f"Couldn't find that slug ({slug.id}): its app was destroyed during the upload.")
    except FileNotFoundError:  # the app's slug dir went with the app
        raise NotFound(f"Couldn't find that slug ({slug.id}): its app was destroyed during the upload.") from None
    finally:
        uploads.discard(slug.id)
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    return web.Response(status=200)


async def _receive(request: web.Request, partial: Path) -> None:
    """The request body into `partial`, refused past the slug limit (a chunked body has no length first)."""
    await asyncio.to_thread(partial.parent.mkdir, parents=True, exist_ok=True)
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        total = 0
        while chunk := await request.content.read(_CHUNK):
            total += len(chunk)
            if total > SLUG_HARD_LIMIT:
                raise _TooLarge(f"The slug is larger than {SLUG_HARD_LIMIT} bytes (500 MB): the upload is refused.")
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return "SHA256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def _store_slug(partial: Path, final: Path, expected: str | None) -> tuple[str, int]:
    """Check the upload, store it (in herokusim's layout) at `final`; its checksum and size as stored."""
    if partial.stat().st_size == 0:
        raise InvalidParams("The upload is empty: PUT the slug's tar.gz as the request body.")
    uploaded = _digest(partial)
    if expected and not hmac.compare_digest(uploaded.lower(), expected.lower()):
        raise InvalidParams(f"The upload's checksum is {uploaded}, not {expected} as the slug was created with.")
    heroku_layout = _check_members(partial)
    if heroku_layout:
        repacked = partial.with_name(partial.name + ".repack")
        try:
            _strip_app_dir(partial, repacked)
            os.replace(repacked, partial)
        finally:
            repacked.unlink(missing_ok=True)
    checksum, size = _digest(partial), partial.stat().st_size
    os.replace(partial, final)
    return checksum, size


def _name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _check_members(path: Path) -> bool:
    """Refuse what a dyno could not unpack inside its /app; True if it is Heroku's `./app/...` layout."""
    root = "/nonexistent-slug-root"
    names = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise InvalidParams(f"The slug holds {member.name!r}: paths must stay inside the app.")
                if member.ischr() or member.isblk() or member.isfifo():
                    raise InvalidParams(f"The slug holds {member.name!r}, a device or FIFO: slugs hold files, "
                                        "directories and links.")
                if member.islnk():
                    target = os.path.normpath(os.path.join(root, member.linkname))
                    if os.path.commonpath([root, target]) != root:
                        raise InvalidParams(f"The slug holds a hard link {member.name!r} to a file outside it.")
                if _name(member) not in ("", "."):
                    names.append(_name(member))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidParams(f"The upload is not a gzipped tar (a slug is a .tar.gz): {exc}.") from None
    if not names:
        raise InvalidParams("The slug holds no files.")
    return all(n == "app" or n.startswith("app/") for n in names)


def _strip_app_dir(source: Path, dest: Path) -> None:
    """Heroku's `./app/x` entries as herokusim's `x`."""
    with tarfile.open(source, "r:gz") as tar, tarfile.open(dest, "w:gz", compresslevel=6) as out:
        for member in tar:
            name = _name(member)
            if name in ("", ".", "app"):
                continue
            member.name = name.removeprefix("app/")
            if member.islnk():
                member.linkname = _name(tarfile.TarInfo(member.linkname)).removeprefix("app/")
            out.addfile(member, tar.extractfile(member) if member.isreg() else None)
