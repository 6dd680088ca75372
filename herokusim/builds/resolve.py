"""builds/resolve: which buildpacks a build runs, and where each one's scripts are on this machine.

Choosing, as Heroku does: the buildpacks set on the app (`buildpacks:set`, the buildpack-installations API);
when none is, the legacy `BUILDPACK_URL` config var; else the legacy `.buildpacks` file at the top of the
repo (one URL a line, `#` comments); else nothing, and the compiler detects one of the built-in buildpacks.

Resolving, once per build, each URL to a directory holding `bin/compile`:

- `heroku/python`, `heroku/nodejs`, `heroku/procfile` (also `urn:buildpack:heroku/python`, Heroku's official
  GitHub URLs for them and their buildpack-registry tarballs) are the built-in buildpacks, used offline.
- A git URL — `https://...`, `git://...`, `file://...`, or a local bare repository (or any path with `#ref`) —
  is fetched with the git CLI; `#ref` picks a branch, tag or commit (default: the remote's HEAD).
- A tarball — a URL or local path ending `.tgz` / `.tar.gz` — is fetched and unpacked (tarfile's `data`
  filter: nothing lands or links outside; a single top-level directory is stripped, as GitHub archives have).
- A directory that is not a bare git repository (a plain one, or a checkout without `#ref`) is used as it
  is on disk, so a buildpack can be tried without committing it.

Where herokusim reaches: loopback over any scheme; beyond it only `https://` (an encrypted, authenticated
fetch of code the build runs), never plain `http://` or `git://`, and only when the user named the URL —
tests use loopback, `file://` and local paths only. A repo's `.buildpacks` file may name built-in names and
remote URLs, not paths on this machine: what gets pushed must not choose which host directories a build
reads (and, on Docker, mounts); set a local buildpack with `buildpacks:set` instead.

What is fetched is kept under HEROKUSIM_HOME/buildpacks-cache/<sha256 of url#ref>/: git repos stay there to
be updated by the next build (a branch moves), and each fetched tree is unpacked once into a directory named
by its commit or by the tarball's sha256, never changed afterwards — a build reads a tree no other build
rewrites. A fetch that fails fails the build (nothing released, the ref unchanged).

Blocking code for the build's thread, except check_buildpack_url (cheap, for the API handler).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import httpx

from herokusim.builds.builtin import builtin_buildpacks_dir
from herokusim.builds.compiler import SLUG_HARD_LIMIT, BuildError, BuildpackDir
from herokusim.builds.safefs import AppFileError, read_app_file
from herokusim.builds.tarballs import Refused, TooLarge, Unreadable, copy_limited, extract, is_loopback_host
from herokusim.errors import InvalidParams

CACHE_DIR_NAME = "buildpacks-cache"  # under HEROKUSIM_HOME
FETCH_TIMEOUT = 5 * 60.0  # one git command or one download
MAX_TARBALL_BYTES = SLUG_HARD_LIMIT
MAX_URL_LENGTH = 2048
MAX_BUILDPACKS = 20  # more than any app needs; keeps one PUT from queueing unbounded fetches

# Heroku's names for the buildpacks herokusim has built in, and the directory of each in buildpacks/
BUILTIN_NAMES = {"heroku/python": "python", "heroku/nodejs": "nodejs", "heroku/procfile": "procfile"}
# Heroku's official locations of those buildpacks: herokusim uses its own copy instead of downloading
_OFFICIAL = [
    re.compile(r"https://github\.com/heroku/heroku-buildpack-(?P<name>python|nodejs)(?:\.git)?/?", re.IGNORECASE),
    re.compile(r"https://(?:buildpack-registry|codon-buildpacks)\.s3\.amazonaws\.com/buildpacks/heroku/"
               r"(?P<name>python|nodejs|procfile)\.tgz", re.IGNORECASE),
]
_REGISTRY_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*", re.IGNORECASE)  # namespace/name
_TARBALL_SUFFIXES = (".tgz", ".tar.gz")
_URN = "urn:buildpack:"

Emit = Callable[[str], None]


@dataclass(frozen=True)
class _Spec:
    kind: str  # "builtin", "git", "tarball" or "dir"
    where: str  # the built-in's directory name, a git/tarball URL, or a local path
    ref: str | None = None  # git: the branch, tag or commit after `#`
    builtin_from: str | None = None  # an official URL mapped to a built-in: the name it maps to


def normalize(url: str) -> str:
    """The URL as stored and shown: stripped, without Heroku's `urn:buildpack:` prefix."""
    url = url.strip()
    return url.removeprefix(_URN)


def _is_tarball(path: str) -> bool:
    return path.lower().endswith(_TARBALL_SUFFIXES)


def _is_bare_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _spec(url: str, local_ok: bool = True) -> _Spec:
    """What `url` names; InvalidParams (one line) when herokusim cannot use it. Local paths are only
    classified here (whether they exist is the build's business): `local_ok=False` refuses them."""
    url = normalize(url)
    if not url:
        raise InvalidParams("A buildpack URL is required: heroku/python, a git or tarball URL, or a path.")
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidParams(f"{url[:80]!r} is not a buildpack URL: no spaces or control characters, "
                            f"at most {MAX_URL_LENGTH} characters.")
    if url.lower() in BUILTIN_NAMES:
        return _Spec("builtin", BUILTIN_NAMES[url.lower()])
    base, _, ref = url.partition("#")
    for pattern in _OFFICIAL:
        if match := pattern.fullmatch(base):
            name = f"heroku/{match['name'].lower()}"
            return _Spec("builtin", BUILTIN_NAMES[name], builtin_from=name)
    parts = urlsplit(base)
    if parts.scheme in ("http", "https", "git"):
        if not parts.hostname:
            raise InvalidParams(f"{url} names no host.")
        if parts.scheme != "https" and not is_loopback_host(parts.hostname):
            raise InvalidParams(f"{url} is refused: beyond this machine herokusim fetches buildpacks only over "
                                "https:// (plain http:// and git:// are allowed on loopback only).")
        if _is_tarball(parts.path) and parts.scheme != "git":
            if ref:
                raise InvalidParams(f"{url}: a tarball has no #ref; name the version in its URL.")
            return _Spec("tarball", base)
        return _Spec("git", base, ref or None)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidParams(f"{url} names another host: use file:///path/to/buildpack.")
        path = unquote(parts.path)
    elif parts.scheme:
        raise InvalidParams(f"{url} is not a buildpack URL herokusim can fetch: use heroku/python, "
                            "https://, git:// or file:// URLs, or a path on this machine.")
    elif base.startswith("/"):
        path = base
    elif _REGISTRY_NAME.fullmatch(base) and not ref:
        builtin = ", ".join(BUILTIN_NAMES)
        raise InvalidParams(f"{url} is not in the buildpack registry: herokusim's holds {builtin}; "
                            "name any other by its git or tarball URL (https://github.com/OWNER/REPO).")
    else:
        raise InvalidParams(f"{url} is not a buildpack URL: give heroku/python, a URL, or an absolute path.")
    if not local_ok:
        raise InvalidParams(f"{url} names a path on this machine: a repo's .buildpacks may name only "
                            "heroku/... and remote URLs; set a local buildpack with `herokusim buildpacks:set`.")
    if not path.startswith("/") or "\0" in path:
        raise InvalidParams(f"{url} must name an absolute path: file:///path/to/buildpack.")
    local = Path(path)
    if _is_tarball(path) and not local.is_dir():
        if ref:
            raise InvalidParams(f"{url}: a tarball has no #ref.")
        return _Spec("tarball", path)
    if ref or _is_bare_repo(local) or path.rstrip("/").endswith(".git"):
        return _Spec("git", path, ref or None)
    return _Spec("dir", path)


def check_buildpack_url(url: object) -> str:
    """For `PUT /apps/{app}/buildpack-installations`: the URL as stored, or a clear InvalidParams."""
    if not isinstance(url, str):
        raise InvalidParams('Each update needs a buildpack URL: {"updates": [{"buildpack": "heroku/python"}]}.')
    _spec(url)
    return normalize(url)


def buildpack_name(url: str) -> str:
    """What Heroku's API shows as a buildpack's `name`: its registry name, else its URL."""
    return url.lower() if url.lower() in BUILTIN_NAMES else url


# --- choosing ----------------------------------------------------------------------------------------------


def chosen_urls(installed: list[str], config: Mapping[str, str], build_dir: Path) -> list[str] | None:
    """The URLs this build runs, in order; None: detect among the built-in buildpacks."""
    if installed:
        return installed
    legacy = config.get("BUILDPACK_URL", "").strip()
    if legacy:
        return [legacy]
    try:
        text = read_app_file(build_dir, ".buildpacks")
    except AppFileError as e:
        raise BuildError(str(e)) from None
    if text is None:
        return None
    # a whole line starting with # is a comment; elsewhere # starts a URL's ref (https://...#v1)
    urls = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not urls:
        return None
    for url in urls:  # from the repo: no paths on this machine
        try:
            _spec(url, local_ok=False)
        except InvalidParams as e:
            raise BuildError(f"The .buildpacks file names an unusable buildpack: {e}") from None
    return urls


# --- resolving ---------------------------------------------------------------------------------------------


def resolve_buildpacks(urls: list[str], cache_root: Path, emit: Emit) -> list[BuildpackDir]:
    """Each URL's directory, fetching what needs fetching; BuildError (one line) when one cannot be used."""
    resolved: list[BuildpackDir] = []
    for url in urls:
        try:
            spec = _spec(url)
        except InvalidParams as e:
            raise BuildError(f"Unable to use buildpack {url}: {e}") from None
        path = _resolve(url, spec, cache_root, emit)
        if not (path / "bin" / "compile").is_file():
            raise BuildError(f"Buildpack {url} has no bin/compile: a classic buildpack needs bin/compile "
                             "(and bin/detect, bin/release)")
        resolved.append(BuildpackDir(path, normalize(url)))
    return resolved


def _resolve(url: str, spec: _Spec, cache_root: Path, emit: Emit) -> Path:
    if spec.kind == "builtin":
        path = builtin_buildpacks_dir() / spec.where
        name = next(n for n, d in BUILTIN_NAMES.items() if d == spec.where)
        if not (path / "bin").is_dir():
            raise BuildError(f"herokusim has no built-in {name} buildpack (its built-in ones: "
                             f"{', '.join(sorted(p.name for p in builtin_buildpacks_dir().iterdir()))})")
        if spec.builtin_from:
            emit(f"-----> {url} is {name}: using herokusim's built-in copy (nothing downloaded)")
        return path
    if spec.kind == "dir":
        path = Path(spec.where)
        if not path.is_dir():
            raise BuildError(f"Unable to fetch buildpack {url}: no such directory")
        return path.resolve()
    key = hashlib.sha256(f"{spec.where}#{spec.ref or ''}".encode()).hexdigest()
    entry = cache_root / key
    entry.mkdir(parents=True, exist_ok=True)
    emit(f"-----> Fetching buildpack {url}")
    with _locked(entry):
        if spec.kind == "git":
            return _fetch_git(url, spec, entry)
        return _fetch_tarball(url, spec, entry)


@contextlib.contextmanager
def _locked(entry: Path) -> Iterator[None]:
    """One build at a time updates a cache entry (builds of different apps run side by side)."""
    with open(entry / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git(args: list[str], url: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=FETCH_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BuildError(f"Unable to fetch buildpack {url}: git took more than {FETCH_TIMEOUT:.0f} s") from None
    except OSError as e:
        raise BuildError(f"Unable to fetch buildpack {url}: cannot run git ({e.strerror})") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"git exited with status {done.returncode}"
        raise BuildError(f"Unable to fetch buildpack {url}: {why.removeprefix('fatal: ')}")
    return done.stdout


def _fetch_git(url: str, spec: _Spec, entry: Path) -> Path:
    repo = entry / "repo.git"
    if not (repo / "HEAD").is_file():
        shutil.rmtree(repo, ignore_errors=True)
        partial = entry / "repo.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _git(["clone", "--bare", "--quiet", "--", spec.where, str(partial)], url)
        partial.rename(repo)
    else:  # a branch may have moved since the last build: fetch every branch and tag again
        _git(["fetch", "--quiet", "--prune", "--force", "--tags", "--", spec.where,
              "+refs/heads/*:refs/heads/*"], url, cwd=repo)
    wanted = spec.ref or "HEAD"
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{wanted}^{{commit}}"], url,
                      cwd=repo).strip()
    except BuildError:
        raise BuildError(f"Unable to fetch buildpack {url}: it has no branch, tag or commit {wanted}") from None
    tree = entry / commit
    if not tree.is_dir():
        with tempfile.TemporaryDirectory(dir=entry) as tmp:
            archive = Path(tmp) / "tree.tar"
            _git(["archive", "--format=tar", f"--output={archive}", commit], url, cwd=repo)
            unpacked = _unpack(archive, Path(tmp) / "tree", url)
            unpacked.rename(tree)
    return tree


def _fetch_tarball(url: str, spec: _Spec, entry: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=entry) as tmp:
        tarball = Path(tmp) / "buildpack.tgz"
        if urlsplit(spec.where).scheme in ("http", "https"):
            _download(url, spec.where, tarball)
        else:
            if not Path(spec.where).is_file():  # a FIFO would hang the build, a directory is no tarball
                raise BuildError(f"Unable to fetch buildpack {url}: no such file")
            try:
                with open(spec.where, "rb") as src, tarball.open("wb") as out:
                    _copy(iter(lambda: src.read(1 << 20), b""), out, url)
            except OSError as e:
                raise BuildError(f"Unable to fetch buildpack {url}: {e.strerror or e}") from None
        with tarball.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        tree = entry / digest
        if not tree.is_dir():
            _unpack(tarball, Path(tmp) / "tree", url).rename(tree)
    return tree


def _download(url: str, where: str, dest: Path) -> None:
    # redirects: followed only from https to https (a release asset moves to a CDN), never from loopback
    follow = urlsplit(where).scheme == "https" and not is_loopback_host(urlsplit(where).hostname)
    try:
        # the machine's proxy settings for the world (trust_env), never for loopback
        with httpx.stream("GET", where, timeout=FETCH_TIMEOUT, follow_redirects=follow, trust_env=follow) as reply:
            if reply.url.scheme != urlsplit(where).scheme:
                raise BuildError(f"Unable to fetch buildpack {url}: redirected away from https")
            if reply.status_code != 200:
                raise BuildError(f"Unable to fetch buildpack {url}: HTTP {reply.status_code}")
            with dest.open("wb") as out:
                _copy(reply.iter_bytes(1 << 20), out, url)
    except httpx.HTTPError as e:
        raise BuildError(f"Unable to fetch buildpack {url}: {e or type(e).__name__}") from None


def _copy(chunks: Iterator[bytes], out: BinaryIO, url: str) -> None:
    try:
        copy_limited(chunks, out, MAX_TARBALL_BYTES)
    except TooLarge as e:
        raise BuildError(f"Unable to fetch buildpack {url}: {e}") from None


def _unpack(tarball: Path, dest: Path, url: str) -> Path:
    """Unpack into `dest`, the buildpack's root once a single top-level directory is moved up (GitHub's
archives hold `repo-v1.0/bin/...`)."""
    dest.mkdir()
    try:
        entries = extract(tarball, dest, 4 * MAX_TARBALL_BYTES)
    except TooLarge as e:
        raise BuildError(f"Unable to use buildpack {url}: it {e}") from None
    except Refused as e:  # an absolute path, `..`, a link out of the tree, a device
        raise BuildError(f"Unable to use buildpack {url}: its tarball is refused ({e})") from None
    except Unreadable as e:
        raise BuildError(f"Unable to use buildpack {url}: not a readable tarball ({e})") from None
    # a buildpack's bin/ alone at the top is the buildpack itself, not a directory to strip
    if len(entries) == 1 and entries[0].name != "bin" and entries[0].is_dir() and not entries[0].is_symlink():
        root = entries[0]
        # the tree's root, moved up so the cache entry is the buildpack itself
        moved = dest.with_name(dest.name + ".root")
        root.rename(moved)
        dest.rmdir()
        moved.rename(dest)
    return dest
