"""`herokusim doctor`: each static rule on a small app that trips it and one that does not; the CLI's report,
--json and exit status; --deploy on a daemon (R10 with its cause, R12, a clean app, H12, R14)."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from herokusim.cli.main import main
from herokusim.testing.rules import static_findings
from tests.conftest import ROOT, Daemon, start_daemon, stop_daemon

FIXTURES = ROOT / "fixtures"
HELLO = (FIXTURES / "python-hello" / "app.py").read_text()


def make_app(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def good(**extra: str | bytes) -> dict[str, str | bytes]:
    return {"Procfile": "web: python app.py\n", "requirements.txt": "", "app.py": HELLO, **extra}


def rules_hit(root: Path) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for finding in static_findings(root):
        hits.setdefault(finding.rule, []).append(f"{finding.severity} {finding.where} {finding.seen}")
    return hits


def git_init(root: Path, *add: str) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", *add], cwd=root, check=True)


# --- the static rules -----------------------------------------------------------------------------------------


def test_fixtures_python_hello_is_clean() -> None:
    result = CliRunner().invoke(main, ["doctor", str(FIXTURES / "python-hello")])
    assert result.exit_code == 0, result.output
    assert "No problems found" in result.output


def test_procfile_rule(tmp_path: Path) -> None:
    none = make_app(tmp_path / "none", {"main.py": "print('hi')\n", "requirements.txt": ""})
    assert rules_hit(none)["procfile"][0].startswith("error Procfile no Procfile")
    assert "procfile" not in rules_hit(make_app(tmp_path / "default", {"app.py": HELLO, "requirements.txt": ""}))
    node = {"package.json": '{"scripts": {"start": "node index.js"}}', "index.js": "require('http')"}
    assert "procfile" not in rules_hit(make_app(tmp_path / "node", node))
    broken = make_app(tmp_path / "broken", good(Procfile="web python app.py\n"))
    assert "is not \"type: command\"" in rules_hit(broken)["procfile"][0]


def test_port_rule(tmp_path: Path) -> None:
    fixed = make_app(tmp_path / "fixed", good(**{"app.py": """\
        from http.server import HTTPServer, BaseHTTPRequestHandler
        HTTPServer(("0.0.0.0", 8000), BaseHTTPRequestHandler).serve_forever()
        """}))
    assert rules_hit(fixed)["port"] == [('error app.py:2 HTTPServer(("0.0.0.0", 8000), BaseHTTPRequestHandler)'
                                        '.serve_forever()  (a fixed port 8000; $PORT is never read)')]
    flask = make_app(tmp_path / "flask", good(**{"requirements.txt": "flask\n", "app.py": """\
        import os
        from flask import Flask
        app = Flask(__name__)
        app.run(host="localhost", port=int(os.environ.get("PORT", 5000)))
        """}))
    assert rules_hit(flask)["port"][0].startswith("error app.py:4 ")
    procfile = make_app(tmp_path / "gunicorn", good(Procfile="web: gunicorn --bind 127.0.0.1:8000 app:app\n"))
    assert rules_hit(procfile)["port"][0].startswith("error Procfile web: gunicorn")
    node = make_app(tmp_path / "node", {"package.json": '{"scripts": {"start": "node index.js"}}',
                                        "index.js": "const app = require('http').createServer();\napp.listen(3000);\n"})
    assert rules_hit(node)["port"][0].startswith("error index.js:2 app.listen(3000);")
    node_ok = make_app(tmp_path / "node-ok", {"package.json": '{"scripts": {"start": "node index.js"}}',
                                              "index.js": "require('http').createServer().listen(process.env.PORT);\n"})
    assert "port" not in rules_hit(node_ok)
    assert "port" not in rules_hit(make_app(tmp_path / "good", good(
        Procfile="web: gunicorn --bind 0.0.0.0:$PORT app:app\n")))
    assert rules_hit(FIXTURES / "port-ignorer")["port"] == [
        'error app.py:8 sock.bind(("127.0.0.1", 0))  (listens on 127.0.0.1, not 0.0.0.0)']


def test_ephemeral_fs_rule(tmp_path: Path) -> None:
    writer = make_app(tmp_path / "writer", good(**{"store.py": """\
        import os, sqlite3
        UPLOAD_FOLDER = "uploads"
        def save(data):
            with open("data/visits.txt", "a") as f:
                f.write(data)
        db = sqlite3.connect("app.db")
        with open("/tmp/scratch", "w") as f:
            f.write("fine")
        open("config.json").read()
        """}))
    hits = rules_hit(writer)["ephemeral-fs"]
    assert [h.split(" ", 2)[1] for h in hits] == ["store.py:2", "store.py:4", "store.py:6"]
    assert all(h.startswith("warning") for h in hits)
    assert "ephemeral-fs" not in rules_hit(make_app(tmp_path / "good", good()))
    assert len(rules_hit(FIXTURES / "file-writer")["ephemeral-fs"]) >= 2


def test_secrets_rule(tmp_path: Path) -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
    leaky = make_app(tmp_path / "leaky", good(**{
        "deploy.pem": key, "settings.py": 'AWS = "AKIAABCDEFGHIJKLMNOP"\nDB_PASSWORD = "hunter22"\n',
        ".env": "SECRET=1\n"}))
    git_init(leaky, "-A")
    hits = rules_hit(leaky)["secrets"]
    assert any(h.startswith("error .env .env is tracked by git") for h in hits)
    assert any(h.startswith("error deploy.pem:1 ") for h in hits)
    assert any(h.startswith("error settings.py:1 an AWS access key id AKIAABCD") for h in hits)
    assert any(h.startswith("warning settings.py:2 DB_PASSWORD") for h in hits)
    ignored = make_app(tmp_path / "ignored", good(**{".env": "SECRET=1\n", ".gitignore": ".env\n",
                                                     "settings.py": 'import os\nPASSWORD = os.environ["PASSWORD"]\n'}))
    git_init(ignored, "-A")
    assert "secrets" not in rules_hit(ignored)


def test_dependencies_rule(tmp_path: Path) -> None:
    app = """\
        import os, json
        import requests
        from flask import Flask
        import yaml
        import helpers
        from . import sibling
        try:
            import ujson
        except ImportError:
            ujson = None
        """
    missing = make_app(tmp_path / "missing", good(**{"web.py": app, "helpers.py": "", "requirements.txt":
                                                    "Flask==3.0\n"}))
    hits = rules_hit(missing)["dependencies"]
    assert [h.split(" ", 2)[1] for h in hits] == ["web.py:2", "web.py:4"]
    assert "requests is not in the standard library" in hits[0]
    declared = make_app(tmp_path / "declared", good(**{"web.py": app, "helpers.py": "",
                                                      "requirements.txt": "flask\nrequests>=2\nPyYAML\n"}))
    assert "dependencies" not in rules_hit(declared)
    pyproject = make_app(tmp_path / "pyproject", good(**{"web.py": app, "helpers.py": "", "pyproject.toml": """\
        [project]
        name = "x"
        dependencies = ["flask", "requests", "pyyaml"]
        """}))
    assert "dependencies" not in rules_hit(pyproject)


def test_slugignore_rule(tmp_path: Path) -> None:
    big = good(**{"tests/data.bin": b"\0" * (1024 * 1024 + 1)})
    assert rules_hit(make_app(tmp_path / "big", big))["slugignore"][0].startswith("warning tests/ tests/ holds 1.0 MB")
    assert "slugignore" not in rules_hit(make_app(tmp_path / "ignored", {**big, ".slugignore": "tests/\n"}))
    assert "slugignore" not in rules_hit(make_app(tmp_path / "small", good(**{"tests/t.py": "x = 1\n"})))


def test_release_phase_rule(tmp_path: Path) -> None:
    migrations = good(**{"migrations/001_init.py": "", "alembic.ini": ""})
    assert "alembic.ini" in rules_hit(make_app(tmp_path / "none", migrations))["release-phase"][0]
    released = {**migrations, "Procfile": "web: python app.py\nrelease: alembic upgrade head\n"}
    assert "release-phase" not in rules_hit(make_app(tmp_path / "released", released))
    assert "release-phase" not in rules_hit(make_app(tmp_path / "plain", good()))


def test_app_json_rule(tmp_path: Path) -> None:
    bad = make_app(tmp_path / "bad", good(**{"app.json": '{"env": {"SECRET": {"generator": "uuid"}}}'}))
    assert rules_hit(bad)["app-json"] == ['error app.json app.json: env.SECRET.generator must be "secret"']
    assert "app-json" not in rules_hit(make_app(tmp_path / "ok", good(**{"app.json": '{"name": "ok"}'})))


def test_cli_report_json_and_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", str(FIXTURES / "port-ignorer"), "--json"])
    assert result.exit_code == 1
    findings = json.loads(result.output)
    assert findings[0] == {**findings[0], "severity": "error", "rule": "port", "where": "app.py:8"}
    assert set(findings[0]) == {"severity", "rule", "where", "seen", "why", "fix"}
    text = CliRunner().invoke(main, ["doctor", str(FIXTURES / "file-writer")])
    assert text.exit_code == 0 and "WARNING [ephemeral-fs] app.py:" in text.output  # warnings only: exit 0
    missing = CliRunner().invoke(main, ["doctor", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "is not a directory" in missing.output and "Traceback" not in missing.output


# --- --deploy on a daemon ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("doctor") / "home", HEROKUSIM_BOOT_TIMEOUT="5",
                     HEROKUSIM_STOP_GRACE="3", HEROKUSIM_ROUTER_TIMEOUT="2", HEROKUSIM_MEMORY_QUOTA_MB="40")
    try:
        yield d
    finally:
        stop_daemon(d)


def doctor_apps(daemon: Daemon) -> list[str]:
    return [a["name"] for a in daemon.api("GET", "/apps").json() if a["name"].startswith("doctor-")]


def test_deploy_port_ignorer_reports_r10_with_its_cause(daemon: Daemon) -> None:
    done = daemon.cli("doctor", str(FIXTURES / "port-ignorer"), "--deploy", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR [boot] log" in done.stdout
    assert "heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 5 seconds" \
        in done.stdout
    assert 'cause (static pass): app.py:8: sock.bind(("127.0.0.1", 0))' in done.stdout
    assert doctor_apps(daemon) == []  # the throwaway app is gone


def test_deploy_clean_app_and_sigterm_ignorer(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.cli("doctor", str(FIXTURES / "python-hello"), "--deploy", "--load", "20", "--json", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []
    assert "GET / after the daily cycle: 200" in done.stderr
    ignorer = daemon.cli("doctor", str(FIXTURES / "sigterm-ignorer"), "--deploy", "--json", timeout=180)
    findings = json.loads(ignorer.stdout)
    assert ignorer.returncode == 0  # R12 is a warning
    r12 = [f for f in findings if f["rule"] == "sigterm"]
    assert len(r12) == 1 and r12[0]["severity"] == "warning"
    assert "heroku[web.1]: Error R12 (Exit timeout) -> At least one process failed to exit within 3 seconds" \
        in r12[0]["seen"]
    assert doctor_apps(daemon) == []


def test_deploy_slow_path_h12_and_memory_r14(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(tmp_path / "slow", good(**{"app.py": """\
        import os, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        kept = []
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/slow":
                    time.sleep(4)
                kept.append(bytearray(2 * 1024 * 1024))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
        ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
        """}))
    done = daemon.cli("doctor", str(app), "--deploy", "--slow-path", "/slow", "--load", "20", "--json", timeout=180)
    findings = {f["rule"]: f for f in json.loads(done.stdout)}
    assert done.returncode == 1, done.stdout + done.stderr
    assert findings["h12"]["severity"] == "error"
    assert 'heroku[router]: at=error code=H12 desc="Request timeout"' in findings["h12"]["seen"]
    assert "Error R14 (Memory quota exceeded)" in findings["memory"]["seen"]
    assert doctor_apps(daemon) == []


def test_deploy_interrupted_still_removes_the_app(daemon: Daemon) -> None:
    env = {**daemon.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*daemon.program, "doctor", str(FIXTURES / "python-hello"), "--deploy"], env=env,
                            cwd=daemon.home.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # wait until the app exists and the push is under way
        said.append(line)
        if line.startswith("Deploying"):
            break
    assert doctor_apps(daemon), said
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Destroying doctor-" in err
    assert doctor_apps(daemon) == []
