"""Platform API operations a third-party client drives: rename an app, release an existing slug, the create-slug
flow (POST /slugs, PUT the tarball to blob.url, release it) and builds from a source tarball without git.

One daemon for the module (builds are the slow part); each test uses apps of its own."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import shutil
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES, ROOT, Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for

from herokusim.api.blobs import slug_blob_url


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("ops") / "home")
    try:
        yield d
    finally:
        stop_daemon(d)


def answers(daemon: Daemon, host: str) -> httpx.Response:
    """The app's answer once its web dyno is up."""
    return wait_for(lambda: (r := daemon.get(host)).status_code == 200 and r, timeout=60,
                    message=f"{host} to answer 200")


def create(daemon: Daemon, name: str) -> dict:
    made = daemon.api("POST", "/apps", json={"name": name})
    assert made.status_code == 201, made.text
    return made.json()


def releases(daemon: Daemon, app: str) -> list[dict]:
    return daemon.api("GET", f"/apps/{app}/releases").json()


def slugs_dir(daemon: Daemon, app_id: str) -> list[str]:
    path = daemon.home / "slugs" / app_id
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


@pytest.fixture(scope="module")
def pushed(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """App `src`, python-hello pushed to it: its newest release's slug is one herokusim built."""
    repo = checkout_of("python-hello", tmp_path_factory.mktemp("src") / "src")
    create(daemon, "src")
    assert daemon.cli("git:remote", "-a", "src", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    answers(daemon, "src.localhost")
    latest = releases(daemon, "src")[-1]
    return {"sha": git("rev-parse", "HEAD", cwd=repo).stdout.strip(), "release": latest,
            "slug": latest["slug"]["id"]}


# --- rename ---------------------------------------------------------------------------------------------------


def test_rename_moves_host_git_and_remote(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "demo")
    created = daemon.cli("apps:create", "demo", cwd=repo)
    assert created.returncode == 0, created.stderr
    assert git("push", "herokusim", "main", cwd=repo, env=daemon.env).returncode == 0
    answers(daemon, "demo.localhost")
    before = releases(daemon, "demo")
    app_id = daemon.api("GET", "/apps/demo").json()["id"]

    # the app from the checkout's remote; this checkout's herokusim, whatever is installed
    renamed = daemon.cli("apps:rename", "demo2", cwd=repo, env={"PYTHONPATH": str(ROOT)})
    assert renamed.returncode == 0, renamed.stderr
    new_git = f"http://127.0.0.1:{daemon.git_port}/demo2.git"
    assert renamed.stdout.splitlines() == [
        "Renaming ⬢ demo to ⬢ demo2... done",
        f"http://demo2.localhost:{daemon.router_port}/ | {new_git}",
        "Git remote herokusim updated",
    ]
    assert "Don't forget to update git remotes" in renamed.stderr
    assert git("remote", "get-url", "herokusim", cwd=repo).stdout.strip() == new_git

    # the API: same app (id, releases), new name and URLs; the old name is gone
    app = daemon.api("GET", "/apps/demo2").json()
    assert (app["id"], app["name"], app["git_url"]) == (app_id, "demo2", new_git)
    assert app["web_url"] == f"http://demo2.localhost:{daemon.router_port}/"
    assert daemon.api("GET", "/apps/demo").status_code == 404
    assert [r["id"] for r in releases(daemon, "demo2")] == [r["id"] for r in before]

    # the router: the running dyno answers at the new host, the old host is no app at all
    assert "Hello from herokusim!" in daemon.get("demo2.localhost").text
    old = daemon.get("demo.localhost")
    assert old.status_code == 404 and "No such app" in old.text

    # git: the old URL is not found, a push through the updated remote builds and releases
    gone = httpx.get(f"http://127.0.0.1:{daemon.git_port}/demo.git/info/refs?service=git-receive-pack",
                     auth=("x", daemon.token))
    assert gone.status_code == 404
    (repo / "app.py").write_text((repo / "app.py").read_text().replace("Hello from", "Renamed, hello from"))
    git("commit", "-qam", "second", cwd=repo)
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    assert f"http://demo2.localhost:{daemon.router_port}/ deployed to herokusim" in push.stderr
    wait_for(lambda: "Renamed, hello" in daemon.get("demo2.localhost").text, timeout=60,
             message="the second push to answer at the new host")
    # its logs are the app's, whatever its name
    lines = daemon.cli("logs", "-a", "demo2", "-n", "200").stdout
    assert "Build started by user" in lines and "Deploy" in lines


def test_rename_refuses_bad_and_taken_names(daemon: Daemon) -> None:
    create(daemon, "keep-a")
    create(daemon, "keep-b")
    for name, message in [("keep-b", "Name is already taken"), ("Bad_Name", "is invalid"), ("ab", "is invalid"),
                          (42, "must be a string")]:
        answer = daemon.api("PATCH", "/apps/keep-a", json={"name": name, "maintenance": True})
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["id"] == "invalid_params" and message in answer.json()["message"]
    # nothing changed, not even the maintenance asked for alongside
    app = daemon.api("GET", "/apps/keep-a").json()
    assert (app["name"], app["maintenance"]) == ("keep-a", False)
    assert daemon.get("keep-a.localhost").status_code != 404  # still routed (H81: nothing deployed)
    same = daemon.api("PATCH", "/apps/keep-a", json={"name": "keep-a"})
    assert same.status_code == 200 and same.json()["name"] == "keep-a"
    assert daemon.api("PATCH", "/apps/nope-nope", json={"name": "fresh-name"}).status_code == 404


# --- releases of existing slugs -------------------------------------------------------------------------------


def test_get_release_by_id_or_version(daemon: Daemon, pushed: dict) -> None:
    release = pushed["release"]
    for ref in (release["id"], str(release["version"]), f"v{release['version']}"):
        got = daemon.api("GET", f"/apps/src/releases/{ref}")
        assert got.status_code == 200 and got.json()["id"] == release["id"], ref
    missing = daemon.api("GET", "/apps/src/releases/999")
    assert missing.status_code == 404 and missing.json()["id"] == "not_found"


def test_release_an_existing_slug(daemon: Daemon, pushed: dict) -> None:
    before = len(releases(daemon, "src"))
    made = daemon.api("POST", "/apps/src/releases", json={"slug": pushed["slug"], "description": "Redeploy it"})
    assert made.status_code == 201, made.text
    assert (made.json()["description"], made.json()["slug"]["id"]) == ("Redeploy it", pushed["slug"])
    default = daemon.api("POST", "/apps/src/releases", json={"slug": pushed["slug"]})
    assert default.status_code == 201
    assert default.json()["description"] == f"Deploy {pushed['sha'][:8]}"
    assert default.json()["version"] == before + 2
    answers(daemon, "src.localhost")

    unknown = daemon.api("POST", "/apps/src/releases", json={"slug": "0b6e0f5c-8c3f-4d55-9a43-2f5d3ac0f0aa"})
    assert unknown.status_code == 404 and unknown.json()["id"] == "not_found"
    for body in ({}, {"slug": pushed["slug"], "release": "1"}, {"slug": 7}, {"description": "only this"}):
        wrong = daemon.api("POST", "/apps/src/releases", json=body)
        assert wrong.status_code == 422 and wrong.json()["id"] == "invalid_params", body
    create(daemon, "other-app")  # a slug is its app's own
    assert daemon.api("POST", "/apps/other-app/releases", json={"slug": pushed["slug"]}).status_code == 404
    assert len(releases(daemon, "src")) == before + 2


# --- the create-slug flow ---------------------------------------------------------------------------------------


def download_slug(daemon: Daemon, slug_id: str) -> bytes:
    url = slug_blob_url(f"http://127.0.0.1:{daemon.api_port}", daemon.token, slug_id)
    got = httpx.get(url)  # no Authorization: the signature is the secret
    assert got.status_code == 200, got.text
    return got.content


def new_slug(daemon: Daemon, app: str, **fields: object) -> dict:
    made = daemon.api("POST", f"/apps/{app}/slugs", json={"process_types": {"web": "python app.py"}, **fields})
    assert made.status_code == 201, made.text
    return made.json()


def test_create_slug_upload_and_release(daemon: Daemon, pushed: dict) -> None:
    tarball = download_slug(daemon, pushed["slug"])
    checksum = "SHA256:" + hashlib.sha256(tarball).hexdigest()
    assert daemon.api("GET", f"/apps/src/slugs/{pushed['slug']}").json()["checksum"] == checksum
    dst = create(daemon, "dst")

    slug = new_slug(daemon, "dst", commit=pushed["sha"], checksum=checksum, stack="heroku-24",
                    buildpack_provided_description="Python")
    assert slug["blob"]["method"] == "PUT"
    assert (slug["process_types"], slug["commit"], slug["size"]) == ({"web": "python app.py"}, pushed["sha"], None)
    # not uploaded yet: it cannot be released
    early = daemon.api("POST", "/apps/dst/releases", json={"slug": slug["id"]})
    assert early.status_code == 422 and "PUT" in early.json()["message"]

    url = slug["blob"]["url"]
    for bad in (re.sub(r"signature=\w+", "signature=" + "0" * 32, url), url.split("?")[0]):
        refused = httpx.put(bad, content=tarball)
        assert refused.status_code == 403 and refused.json()["id"] == "forbidden"
    assert httpx.get(url).status_code == 404  # nothing to download yet

    put = httpx.put(url, content=tarball)
    assert put.status_code == 200, put.text
    again = httpx.put(url, content=tarball)
    assert again.status_code == 409 and again.json()["id"] == "conflict"
    shown = daemon.api("GET", f"/apps/dst/slugs/{slug['id']}").json()
    assert (shown["checksum"], shown["size"]) == (checksum, len(tarball))
    assert httpx.get(url).content == tarball

    released = daemon.api("POST", "/apps/dst/releases", json={"slug": slug["id"]})
    assert released.status_code == 201, released.text
    assert released.json()["description"] == f"Deploy {pushed['sha'][:8]}"
    assert "Hello from herokusim!" in answers(daemon, "dst.localhost").text
    assert slugs_dir(daemon, dst["id"]) == [f"{slug['id']}.tar.gz"]


def heroku_layout(slug: bytes) -> bytes:
    """The slug as Heroku's docs make one: `tar czf slug.tgz ./app`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(slug), mode="r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        top = tarfile.TarInfo("./app")
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        dst.addfile(top)
        for member in src:
            member.name = f"./app/{member.name}"
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    return out.getvalue()


def test_upload_in_herokus_slug_layout(daemon: Daemon, pushed: dict) -> None:
    create(daemon, "dst-heroku")
    slug = new_slug(daemon, "dst-heroku")
    assert httpx.put(slug["blob"]["url"], content=heroku_layout(download_slug(daemon, pushed["slug"]))).status_code == 200
    assert daemon.api("POST", "/apps/dst-heroku/releases", json={"slug": slug["id"]}).status_code == 201
    assert "Hello from herokusim!" in answers(daemon, "dst-heroku.localhost").text


def tar_gz(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_bad_uploads_change_nothing(daemon: Daemon) -> None:
    app = create(daemon, "dst-bad")
    slug = new_slug(daemon, "dst-bad", checksum="SHA256:" + "ab" * 32)
    answer = httpx.put(slug["blob"]["url"], content=tar_gz({"Procfile": b"web: x\n"}))
    assert answer.status_code == 422 and "checksum" in answer.json()["message"], answer.text
    plain = new_slug(daemon, "dst-bad")
    for body, message in [(b"not a tarball", "not a gzipped tar"), (b"", "empty"),
                          (tar_gz({"../escape": b"x"}), "inside the app"),
                          (tar_gz({"/etc/evil": b"x"}), "inside the app")]:
        answer = httpx.put(plain["blob"]["url"], content=body)
        assert answer.status_code == 422 and message in answer.json()["message"], answer.text
    for made in (slug, plain):
        assert daemon.api("GET", f"/apps/dst-bad/slugs/{made['id']}").json()["size"] is None
        assert daemon.api("POST", "/apps/dst-bad/releases", json={"slug": made["id"]}).status_code == 422
    assert slugs_dir(daemon, app["id"]) == []
    for body in ({}, {"process_types": {"web": ""}}, {"process_types": {"bad type!": "x"}},
                 {"process_types": {"web": "x"}, "stack": "cedar-14"},
                 {"process_types": {"web": "x"}, "checksum": "md5:abc"}):
        wrong = daemon.api("POST", "/apps/dst-bad/slugs", json=body)
        assert wrong.status_code == 422 and wrong.json()["id"] == "invalid_params", body
    assert len(releases(daemon, "dst-bad")) == 2


# --- builds from a source tarball -------------------------------------------------------------------------------


def source_tarball(dest: Path, top: str = "python-hello-main") -> Path:
    """python-hello as GitHub archives a repo: everything in one top-level directory."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(FIXTURES / "python-hello", arcname=top)
    return dest


def build_and_follow(daemon: Daemon, app: str, url: str, version: str | None = None) -> tuple[dict, str]:
    made = daemon.api("POST", f"/apps/{app}/builds", json={"source_blob": {"url": url, "version": version}})
    assert made.status_code == 201, made.text
    build = made.json()
    assert build["status"] == "pending"
    output = httpx.get(build["output_stream_url"], headers={"Authorization": f"Bearer {daemon.token}"},
                       timeout=300).text  # streams until the build ends
    return daemon.api("GET", f"/apps/{app}/builds/{build['id']}").json(), output


def test_build_from_a_file_url(daemon: Daemon, tmp_path: Path) -> None:
    create(daemon, "from-file")
    tarball = source_tarball(tmp_path / "app.tgz")
    build, output = build_and_follow(daemon, "from-file", tarball.as_uri(), "v1.0.0")
    assert build["status"] == "succeeded", output
    assert "-----> Python app detected" in output and "Released v3" in output
    assert releases(daemon, "from-file")[-1]["description"] == "Deploy v1.0.0"
    assert "Hello from herokusim!" in answers(daemon, "from-file.localhost").text


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_build_from_a_loopback_url(daemon: Daemon, http_server: tuple[str, Path]) -> None:
    base, root = http_server
    create(daemon, "from-http")
    source_tarball(root / "app.tgz")
    build, output = build_and_follow(daemon, "from-http", f"{base}/app.tgz")
    assert build["status"] == "succeeded", output
    assert "Hello from herokusim!" in answers(daemon, "from-http.localhost").text

    missing, output = build_and_follow(daemon, "from-http", f"{base}/gone.tgz")
    assert missing["status"] == "failed" and "HTTP 404" in output
    assert len(releases(daemon, "from-http")) == 3  # the failed build released nothing


def test_bad_sources_are_refused(daemon: Daemon, tmp_path: Path) -> None:
    app = create(daemon, "bad-src")
    shutil.copytree(FIXTURES / "python-hello", tmp_path / "dir")
    for url in ("http://example.com/app.tgz", "https://10.0.0.1/app.tgz", "ftp://127.0.0.1/app.tgz",
                (tmp_path / "missing.tgz").as_uri(), (tmp_path / "dir").as_uri(), "file://elsewhere/app.tgz",
                "", None):
        refused = daemon.api("POST", "/apps/bad-src/builds", json={"source_blob": {"url": url}})
        assert refused.status_code == 422 and refused.json()["id"] == "invalid_params", (url, refused.text)
    assert daemon.api("POST", "/apps/bad-src/builds", json={}).status_code == 422
    assert daemon.api("GET", "/apps/bad-src/builds").json() == []

    # accepted, then failed at unpacking: nothing lands outside the build dir, nothing is released
    evil = tmp_path / "evil.tgz"
    evil.write_bytes(tar_gz({"app/Procfile": b"web: python app.py\n", "../../escaped.txt": b"gotcha"}))
    build, output = build_and_follow(daemon, "bad-src", evil.as_uri())
    assert build["status"] == "failed" and "refused" in output, output
    assert not list(daemon.home.rglob("escaped.txt"))
    not_tar = tmp_path / "not.tgz"
    not_tar.write_bytes(b"plain text")
    build, output = build_and_follow(daemon, "bad-src", not_tar.as_uri())
    assert build["status"] == "failed" and "not a readable tarball" in output, output
    assert len(releases(daemon, "bad-src")) == 2
    assert slugs_dir(daemon, app["id"]) == []
