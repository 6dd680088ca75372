"""The add-on room (herokusim/addons/manager.py) end to end: deployhooks:http is the real service (create, a
push, the POST with Heroku's fields, a failing hook logged without holding the release); a test-only
heroku-postgresql stand-in (tests/addon_providers.py, registered through HEROKUSIM_TEST_ADDON_PROVIDERS)
shows what deployhooks cannot: config vars, DATABASE_URL and color names, attach/detach releases, metrics
lines, rollback, apps:destroy. Bad input changes nothing."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for

TESTS = Path(__file__).parent
TEST_HOOK = {"HEROKUSIM_TEST_ADDON_PROVIDERS": "heroku-postgresql=addon_providers:FakePostgres",
             "PYTHONPATH": str(TESTS)}


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path / "home", **TEST_HOOK)
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


class Hook(http.server.BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        fields = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        Hook.posts.append({**fields, "content-type": self.headers.get("Content-Type", "")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    Hook.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def push(daemon: Daemon, repo: Path, app: str) -> None:
    helper = f"!f() {{ echo username=x; echo password={daemon.token}; }}; f"
    url = f"http://127.0.0.1:{daemon.git_port}/{app}.git"
    done = git("-c", f"credential.helper={helper}", "push", url, "HEAD:main", cwd=repo, env=daemon.env)
    assert done.returncode == 0, done.stderr


def releases(daemon: Daemon, app: str) -> list[dict[str, Any]]:
    return daemon.api("GET", f"/apps/{app}/releases").json()


def config(daemon: Daemon, app: str) -> dict[str, str]:
    return daemon.api("GET", f"/apps/{app}/config-vars").json()


def logs(daemon: Daemon, app: str) -> str:
    return daemon.cli("logs", "-a", app, "-n", "1500").stdout


def test_deployhooks_posts_each_deploy_and_a_failing_hook_never_holds_the_release(
        daemon: Daemon, tmp_path: Path, hook_server: str) -> None:
    assert daemon.cli("apps:create", "hooked").returncode == 0
    made = daemon.cli("addons:create", "deployhooks:http", "-a", "hooked", "--", f"--url={hook_server}")
    assert made.returncode == 0, made.stderr
    assert "Creating deployhooks:http on ⬢ hooked... done, v3" in made.stdout
    addon = daemon.api("GET", "/apps/hooked/addons").json()[0]
    assert addon["name"].startswith("deployhooks-") and addon["state"] == "provisioned"
    assert releases(daemon, "hooked")[-1]["description"] == f"Attach DEPLOYHOOKS (@ref:{addon['name']})"
    assert config(daemon, "hooked") == {}, "a deploy hook exports no config vars"

    repo = checkout_of("python-hello", tmp_path / "app")
    push(daemon, repo, "hooked")
    post = wait_for(lambda: Hook.posts and Hook.posts[-1], timeout=60, message="the deploy hook's POST")
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    subject = git("log", "-1", "--format=%s", cwd=repo).stdout.strip()
    assert post["content-type"] == "application/x-www-form-urlencoded"
    assert post["app"] == "hooked" and post["head_long"] == head and post["head"] == head[:7]
    assert post["release"] == "v4" and post["url"] == f"http://hooked.localhost:{daemon.router_port}"
    assert subject in post["git_log"] and post["user"]
    wait_for(lambda: f"heroku[deployhooks]: Sent HTTP POST to {hook_server} (200)" in logs(daemon, "hooked"),
             message="the hook's outcome in the app's log")

    # a hook whose server is gone: logged, and the deploy still goes out
    dead = hook_server.replace(hook_server.split(":")[2].split("/")[0], "9")  # port 9 (discard): refused
    assert daemon.cli("addons:create", "deployhooks", "-a", "hooked", "--", "--url", dead).returncode == 0
    git("commit", "--allow-empty", "-m", "second deploy", cwd=repo)
    push(daemon, repo, "hooked")
    latest = releases(daemon, "hooked")[-1]
    assert latest["description"].startswith("Deploy ") and latest["status"] == "succeeded"
    wait_for(lambda: len(Hook.posts) == 2, timeout=60, message="the working hook's second POST")
    assert "  * " in Hook.posts[-1]["git_log"] and "second deploy" in Hook.posts[-1]["git_log"]
    assert Hook.posts[-1]["prev_head"] == head
    wait_for(lambda: f"heroku[deployhooks]: HTTP POST to {dead} failed" in logs(daemon, "hooked"),
             message="the failed hook in the app's log")


def test_bad_deployhooks_input_changes_nothing(daemon: Daemon) -> None:
    assert daemon.cli("apps:create", "plain").returncode == 0
    before = releases(daemon, "plain")
    for args, error in [
        (["deployhooks:http", "--", "--url=ftp://example.com/x"], "Invalid URL 'ftp://example.com/x'"),
        (["deployhooks:http"], "deployhooks:http needs the URL to post to"),
        (["deployhooks:irc", "--", "--url=http://127.0.0.1:1/"], "Plans of deployhooks: deployhooks:http"),
        (["papertrail", "--", "--url=http://127.0.0.1:1/"], ("Couldn't find either the add-on service or the "
                                                            'add-on plan of "papertrail"')),
    ]:
        result = daemon.cli("addons:create", "-a", "plain", *args)
        assert result.returncode == 1 and error in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert releases(daemon, "plain") == before
    assert daemon.api("GET", "/addons").json() == []
    assert not list((daemon.home / "addons" / "deployhooks").glob("*.json"))


def test_postgres_names_attachments_releases_and_metrics(pg_daemon: Daemon, tmp_path: Path) -> None:
    d = pg_daemon
    for app in ("shop", "admin"):
        assert d.cli("apps:create", app).returncode == 0
    push(d, checkout_of("python-hello", tmp_path / "app"), "shop")  # v3, running web.1
    wait_for(lambda: [x["state"] for x in d.api("GET", "/apps/shop/dynos").json()] == ["up"], timeout=60,
             message="web.1 up")
    made = d.cli("addons:create", "heroku-postgresql", "-a", "shop")
    assert made.returncode == 0, made.stderr
    # the release restarts the dynos, which get the new vars
    wait_for(lambda: "heroku[web.1]: Restarting" in logs(d, "shop"), message="web.1 restarted by the attach")
    wait_for(lambda: [x["release"]["version"] for x in d.api("GET", "/apps/shop/dynos").json()
                      if x["state"] == "up"] == [4], timeout=60, message="web.1 up on v4")
    first = d.api("GET", "/apps/shop/addons").json()[0]
    assert first["plan"]["name"] == "heroku-postgresql:essential-0" and first["name"].startswith("postgresql-")
    vars_ = config(d, "shop")
    colors = [k for k in vars_ if k.startswith("HEROKU_POSTGRESQL_")]
    assert set(vars_) == {"DATABASE_URL", *colors} and len(colors) == 1 and colors[0].endswith("_URL")
    assert vars_["DATABASE_URL"] == vars_[colors[0]] and vars_["DATABASE_URL"].startswith("postgres://")
    assert f"Created {first['name']} as DATABASE_URL, {colors[0]}" in made.stdout
    assert releases(d, "shop")[-1]["description"] == f"Attach DATABASE (@ref:{first['name']})"

    # a second database: only its color (DATABASE is taken), another color
    assert d.cli("addons:create", "heroku-postgresql:essential-1", "-a", "shop", "--name", "reports-db"
                 ).returncode == 0
    second = set(config(d, "shop")) - set(vars_)
    assert len(second) == 1 and next(iter(second)).startswith("HEROKU_POSTGRESQL_") and second != set(colors)
    assert releases(d, "shop")[-1]["description"].startswith("Attach HEROKU_POSTGRESQL_")
    # --as names the attachment
    assert d.cli("addons:create", "heroku-postgresql", "-a", "shop", "--as", "ANALYTICS").returncode == 0
    assert "ANALYTICS_URL" in config(d, "shop")

    # bad input: a taken attachment name, an unknown plan, provisioning that fails, no --confirm
    before = (releases(d, "shop"), config(d, "shop"), d.api("GET", "/addons").json())
    for args, error in [
        (["addons:create", "heroku-postgresql", "--as", "DATABASE"], "already used by another add-on"),
        (["addons:create", "heroku-postgresql:mega-9"], "Plans of heroku-postgresql: heroku-postgresql:essential-0,"),
        (["addons:create", "heroku-postgresql", "--name", "reports-db"], "reports-db is already taken"),
        (["addons:create", "heroku-postgresql", "--", "--fail"], "provisioning refused"),
        (["addons:destroy", "reports-db"], "re-run this command with --confirm shop"),
        (["addons:destroy", "reports-db", "--confirm", "admin"], "Confirmation admin did not match shop"),
    ]:
        result = d.cli(args[0], "-a", "shop", *args[1:])
        assert result.returncode == 1 and error in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert (releases(d, "shop"), config(d, "shop"), d.api("GET", "/addons").json()) == before
    assert d.api("POST", "/apps/shop/addons", json={"plan": "nosuch"}).status_code == 422

    # attach to another app, then detach
    attached = d.cli("addons:attach", first["name"], "-a", "admin")
    assert attached.returncode == 0, attached.stderr
    assert config(d, "admin") == {"DATABASE_URL": vars_["DATABASE_URL"]}
    assert releases(d, "admin")[-1]["description"] == f"Attach DATABASE (@ref:{first['name']})"
    listing = d.cli("addons", "-a", "shop").stdout
    assert f"heroku-postgresql ({first['name']})" in listing and "└─ as DATABASE" in listing
    assert "└─ as admin::DATABASE" in listing
    assert d.cli("addons:detach", "DATABASE", "-a", "admin").returncode == 0
    assert config(d, "admin") == {}
    assert releases(d, "admin")[-1]["description"] == f"Detach DATABASE (@ref:{first['name']})"
    info = d.cli("apps:info", "-a", "shop").stdout
    assert info.count("heroku-postgresql:essential-") == 3, info

    # metrics every few simulated minutes, as Heroku Postgres's line
    assert d.api("POST", "/clock/warp", json={"seconds": 6 * 60}).status_code == 200
    wait_for(lambda: f"app[heroku-postgres]: source=DATABASE addon={first['name']} sample#db_size=8595591bytes "
                     "sample#tables=5" in logs(d, "shop"), message="the metrics line")

    # rollback keeps the add-on vars (add-ons are not rolled back)
    assert d.cli("config:set", "A=1", "-a", "shop").returncode == 0
    rolled = d.cli("rollback", "v3", "-a", "shop")
    assert "it doesn't add or remove addons" in rolled.stderr
    after = config(d, "shop")
    assert "A" not in after and after["DATABASE_URL"] == vars_["DATABASE_URL"] and "ANALYTICS_URL" in after

    # destroy: Detach release, vars gone, data deprovisioned
    gone = d.cli("addons:destroy", "reports-db", "--confirm", "shop", "-a", "shop")
    assert gone.returncode == 0 and "Destroying reports-db on ⬢ shop... done" in gone.stdout, gone.stderr
    assert not set(config(d, "shop")) & second
    assert releases(d, "shop")[-1]["description"].startswith("Detach HEROKU_POSTGRESQL_")

    # apps:destroy takes the app's add-ons with it
    assert d.cli("apps:destroy", "shop", "--confirm", "shop").returncode == 0
    assert d.api("GET", "/addons").json() == []
    record = [line.split()[0] for line in (d.home / "fake-addons.log").read_text().splitlines()]
    assert record.count("provision") == 3 and record.count("deprovision") == 3


def test_addons_come_back_with_the_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    d = start_daemon(home, **TEST_HOOK)
    try:
        assert d.cli("apps:create", "keep").returncode == 0
        assert d.cli("addons:create", "heroku-postgresql", "-a", "keep").returncode == 0
    finally:
        stop_daemon(d)
    assert (home / "fake-addons.log").read_text().splitlines()[-1] == "stop"
    d = start_daemon(home, **TEST_HOOK)
    try:
        assert (home / "fake-addons.log").read_text().splitlines()[-1] == "start", "started with the daemon"
        assert "addons[heroku-postgresql]: server started" in d.output()
        assert [a["state"] for a in d.api("GET", "/apps/keep/addons").json()] == ["provisioned"]
    finally:
        stop_daemon(d)
