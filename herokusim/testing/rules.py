"""testing/rules: the static rules of `herokusim doctor` — pure reads of an app's files, no daemon.

Each rule is a function `rule(tree) -> list[Finding]` listed in RULES; a Finding says what was seen (file:line),
why it matters on Heroku and how to fix it. `AppTree` is the app as a push would send it: in a git checkout the
files git knows of (tracked, or untracked and not ignored), else every file under the directory.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from herokusim.appjson import AppJsonError, parse_manifest
from herokusim.builds.procfile import ProcfileError, parse_procfile

SEVERITIES = ("error", "warning", "info")
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "env", "__pycache__", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "site-packages"})
MAX_SCAN_BYTES = 1024 * 1024  # larger files are not read by the text rules
LARGE_BYTES = 1024 * 1024  # tests or assets above this want a .slugignore
TEST_DIRS = ("tests", "test", "spec", "docs")
ASSET_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".psd", ".mp4", ".mov", ".zip", ".tar", ".gz", ".pdf",
                            ".sketch", ".ai", ".wav", ".mp3", ".bmp", ".tiff", ".webm"})


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    rule: str
    where: str  # file:line, a file, or `log` for what the dynamic pass saw
    seen: str
    why: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class AppTree:
    """The app's files as a push would send them (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tracked = _git_files(root, "--cached")  # None: not a git checkout
        known = _git_files(root, "--cached", "--others", "--exclude-standard")
        if known is not None:
            self.files = sorted(Path(name) for name in known if (root / name).is_file())
        else:
            self.files = sorted(path.relative_to(root) for path in _walk(root))

    def text(self, rel: Path | str) -> str | None:
        path = self.root / rel
        try:
            if not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    @cached_property
    def procfile(self) -> dict[str, str] | None:
        """The Procfile's process types; None without a Procfile (a bad one raises ProcfileError)."""
        text = self.text("Procfile")
        return None if text is None else parse_procfile(text)

    def sources(self, *suffixes: str) -> Iterator[tuple[Path, str]]:
        """The app's own source files with these suffixes (tests left out: they do not run on a dyno)."""
        for rel in self.files:
            if rel.suffix in suffixes and not _is_test(rel):
                text = self.text(rel)
                if text is not None:
                    yield rel, text

    @cached_property
    def python(self) -> list[tuple[Path, ast.Module]]:
        parsed = []
        for rel, text in self.sources(".py"):
            try:
                parsed.append((rel, ast.parse(text, filename=str(rel))))
            except (SyntaxError, ValueError):
                continue
        return parsed


def _git_files(root: Path, *args: str) -> list[str] | None:
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True,
                                text=True, timeout=30, check=False)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *args, "--", "."], capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.split("\0") if name]


def _walk(root: Path) -> Iterator[Path]:
    for path in root.iterdir():
        if path.is_symlink():
            continue
        if path.is_dir():
            if path.name not in SKIP_DIRS:
                yield from _walk(path)
        elif path.is_file():
            yield path


def _is_test(rel: Path) -> bool:
    return (any(part in ("tests", "test", "spec") for part in rel.parts[:-1]) or rel.name.startswith("test_")
            or rel.name == "conftest.py" or rel.name.endswith((".test.js", ".spec.js")))


def _where(rel: Path, line: int | None = None) -> str:
    return f"{rel}:{line}" if line else str(rel)


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1].strip()[:160] if 0 < line <= len(lines) else ""


# --- web process -------------------------------------------------------------------------------------------


def default_web(tree: AppTree) -> str | None:
    """The `web` command a built-in buildpack gives an app without a Procfile entry (as their bin/release)."""
    if tree.exists("app.py"):
        return "python app.py"
    if tree.exists("package.json"):
        try:
            scripts = json.loads(tree.text("package.json") or "{}").get("scripts") or {}
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and scripts.get("start") or tree.exists("server.js"):
            return "npm start"
    return None


def rule_procfile(tree: AppTree) -> list[Finding]:
    try:
        types = tree.procfile
    except ProcfileError as exc:
        return [Finding("error", "procfile", "Procfile", str(exc), "Heroku rejects a push whose Procfile it cannot "
                        "parse: no process type starts.", "Write each line as `type: command`, e.g. "
                        "`web: gunicorn app:app`.")]
    if types is not None and "web" in types:
        return []
    if default_web(tree) is not None:
        return []
    seen = "no Procfile" if types is None else f"the Procfile has no `web` type ({', '.join(types) or 'empty'})"
    if types is not None and types:
        return [Finding("info", "procfile", "Procfile", seen, "Without a `web` process nothing receives HTTP: the "
                        "router answers H14 (no web dynos running).", "Fine for a worker-only app; add "
                        "`web: <command binding $PORT>` if it serves HTTP.")]
    return [Finding("error", "procfile", "Procfile", f"{seen}, and no buildpack default for `web` (an app.py for "
                    "Python, a package.json start script or server.js for Node.js)", "Heroku starts only the "
                    "processes the Procfile (or a buildpack's default) names: nothing would run.",
                    "Add a Procfile with `web: <command>` that serves HTTP on $PORT.")]


PORT_READ = re.compile(r"""environ\s*(?:\.get\s*\(|\[)\s*['"]PORT['"]|getenv\s*\(\s*['"]PORT['"]|"""
                       r"""process\.env\.PORT\b|process\.env\[\s*['"]PORT['"]""")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
BIND_CALLS = frozenset({"bind", "listen", "run", "serve", "HTTPServer", "ThreadingHTTPServer", "TCPServer",
                        "ThreadingTCPServer", "make_server", "create_server", "start_server", "run_app",
                        "run_simple", "serve_forever", "TCPSite", "socketserver"})
JS_LISTEN = re.compile(r"""\.listen\s*\(\s*(?P<port>\d{2,5})?""")
JS_HOST = re.compile(r"""['"](?:127\.0\.0\.1|localhost)['"]""")
PROC_PORT = re.compile(r"(?:--port[= ]|-p\s+|runserver\s+(?:[\d.]+:)?|--bind[= ]|-b\s+|:)(?P<port>\d{2,5})\b")
PROC_HOST = re.compile(r"\b(?:127\.0\.0\.1|localhost)\b")

PORT_WHY = ("Heroku gives each web dyno its port in $PORT and routes only to it, on all interfaces: a dyno that "
            "does not accept on $PORT within 60 s is killed with R10 (Boot timeout), and requests get H10/H20.")


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _bind_problems(node: ast.Call) -> tuple[list[str], list[int]]:
    """The local hosts and literal ports among a bind/listen/run call's arguments."""
    hosts: list[str] = []
    ports: list[int] = []
    values = [*node.args, *(kw.value for kw in node.keywords)]
    for kw in node.keywords:
        if kw.arg == "port" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, int):
            ports.append(kw.value.value)
    for value in values:
        for sub in ast.walk(value):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and (
                    sub.value in LOCAL_HOSTS or re.fullmatch(r"(127\.0\.0\.1|localhost):\d+", sub.value)):
                hosts.append(sub.value)
        if isinstance(value, ast.Tuple) and len(value.elts) == 2:
            port = value.elts[1]
            if isinstance(port, ast.Constant) and isinstance(port.value, int) and not isinstance(port.value, bool):
                ports.append(port.value)
    return hosts, ports


def rule_port(tree: AppTree) -> list[Finding]:
    findings: list[Finding] = []
    try:
        web = (tree.procfile or {}).get("web")
    except ProcfileError:
        web = None
    if web and "PORT" not in web:
        for pattern, what in ((PROC_HOST, "binds a loopback host"), (PROC_PORT, "names a fixed port")):
            if pattern.search(web):
                findings.append(Finding("error", "port", "Procfile", f"web: {web}  ({what}, not $PORT)", PORT_WHY,
                                        "Bind 0.0.0.0:$PORT in the command, e.g. `gunicorn --bind 0.0.0.0:$PORT "
                                        "app:app`."))
                break
    for rel, module in tree.python:
        text = tree.text(rel) or ""
        reads_port = bool(PORT_READ.search(text))
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or _call_name(node) not in BIND_CALLS:
                continue
            hosts, ports = _bind_problems(node)
            if hosts:
                seen = f"{_line(text, node.lineno)}  (listens on {hosts[0]}, not 0.0.0.0)"
                findings.append(Finding("error", "port", _where(rel, node.lineno), seen, PORT_WHY,
                                        "Listen on 0.0.0.0 and the port in $PORT: "
                                        "`(\"0.0.0.0\", int(os.environ[\"PORT\"]))`."))
            elif ports and not reads_port:
                seen = f"{_line(text, node.lineno)}  (a fixed port {ports[0]}; $PORT is never read)"
                findings.append(Finding("error", "port", _where(rel, node.lineno), seen, PORT_WHY,
                                        "Use `int(os.environ[\"PORT\"])` as the port."))
    for rel, text in tree.sources(".js", ".mjs", ".cjs", ".ts"):
        reads_port = bool(PORT_READ.search(text))
        for number, line in enumerate(text.splitlines(), start=1):
            match = JS_LISTEN.search(line)
            if match is None:
                continue
            if JS_HOST.search(line):
                findings.append(Finding("error", "port", _where(rel, number), f"{line.strip()[:160]}  (listens on "
                                        "a loopback host)", PORT_WHY, "Call `listen(process.env.PORT)` without a "
                                        "host, or with \"0.0.0.0\"."))
            elif match["port"] and not reads_port:
                findings.append(Finding("error", "port", _where(rel, number), f"{line.strip()[:160]}  (a fixed "
                                        f"port {match['port']}; process.env.PORT is never read)", PORT_WHY,
                                        "Use `process.env.PORT` as the port."))
    return findings


# --- the ephemeral filesystem ------------------------------------------------------------------------------

FS_WHY = ("A dyno's filesystem is a fresh copy of the slug at every start: what it writes is gone at the next "
          "restart, deploy or daily cycle, and other dynos never see it.")


def _home_call(node: ast.AST) -> bool:
    """`os.environ.get("HOME")`, `os.environ["HOME"]`, `os.getenv("HOME")`, `Path.home()`, `Path.cwd()`,
    `os.getcwd()`: on a dyno, the app's own tree (/app)."""
    if isinstance(node, ast.Call):
        name = _call_name(node)
        if name in ("home", "cwd", "getcwd"):
            return True
        return name in ("get", "getenv") and bool(node.args) and isinstance(node.args[0], ast.Constant) \
            and node.args[0].value == "HOME"
    return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "HOME"


def _relative_const(node: ast.AST | None, names: dict[str, ast.AST] | None = None) -> str | None:
    """A string constant naming a relative path (the app's tree on a dyno), a Path()/join of one, or a path
    under $HOME or the working directory; `names`: the module's top-level assignments, to follow a name."""
    names = names or {}
    if node is not None and _home_call(node):
        return "$HOME"
    if isinstance(node, ast.Name) and node.id in names:
        return _relative_const(names.pop(node.id), names)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value
        if value and not value.startswith(("/", "~", ":memory:", "file::memory:")) and "://" not in value:
            return value
        return None
    if isinstance(node, ast.Call) and _call_name(node) in ("Path", "join", "PurePath") and node.args:
        base = _relative_const(node.args[0], names)
        rest = [_text_of(arg) for arg in node.args[1:]]
        return base and "/".join([base, *filter(None, rest)])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        base = _relative_const(node.left, names)
        return base and "/".join(filter(None, [base, _text_of(node.right)]))
    return None


def _text_of(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _top_level(module: ast.Module) -> dict[str, ast.AST]:
    return {target.id: node.value for node in module.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def _write_mode(node: ast.Call, index: int) -> bool:
    mode = node.args[index] if len(node.args) > index else next(
        (kw.value for kw in node.keywords if kw.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")


def rule_ephemeral_fs(tree: AppTree) -> list[Finding]:
    findings: list[Finding] = []
    for rel, module in tree.python:
        text = tree.text(rel) or ""
        top = _top_level(module)

        def rel_path(node: ast.AST | None, top: dict[str, ast.AST] = top) -> str | None:
            return _relative_const(node, dict(top))

        for node in ast.walk(module):
            seen = None
            if isinstance(node, ast.Call):
                name = _call_name(node)
                target = node.func.value if isinstance(node.func, ast.Attribute) else None
                if name == "open" and isinstance(node.func, ast.Name) and node.args and _write_mode(node, 1):
                    path = rel_path(node.args[0])
                    seen = path and f"writes {path!r}"
                elif name in ("write_text", "write_bytes", "touch") and target is not None or name == "open" and target is not None and _write_mode(node, 0):
                    path = rel_path(target)
                    seen = path and f"writes {path!r}"
                elif name == "connect" and node.args and isinstance(node.func, ast.Attribute) and \
                        isinstance(node.func.value, ast.Name) and node.func.value.id == "sqlite3":
                    path = rel_path(node.args[0])
                    seen = path and f"keeps a sqlite database in {path!r}"
                elif name in ("makedirs", "mkdir") and (node.args or target is not None):
                    on_os = isinstance(target, ast.Name) and target.id == "os"
                    path = rel_path(node.args[0] if node.args and (name == "makedirs" or on_os) else target)
                    seen = path and f"creates the directory {path!r}"
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                path = rel_path(node.value)
                if path and any("UPLOAD" in n.upper() for n in names):
                    seen = f"uploads go to {path!r}"
                elif isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) and \
                        re.fullmatch(r"sqlite:///[^/].*", node.value.value):
                    seen = f"a sqlite database in the app's tree ({node.value.value})"
            if seen:
                findings.append(Finding("warning", "ephemeral-fs", _where(rel, node.lineno),
                                        f"{_line(text, node.lineno)}  ({seen} at run time)", FS_WHY,
                                        "Keep what must last in a backing service: Postgres (heroku-postgresql) "
                                        "instead of sqlite, object storage (S3) for uploads; /tmp for scratch."))
    for rel in tree.files:
        if rel.suffix in (".sqlite", ".sqlite3", ".db") and not _is_test(rel):
            findings.append(Finding("warning", "ephemeral-fs", str(rel), "a sqlite database file in the repository",
                                    FS_WHY, "Use heroku-postgresql; keep the file out of git."))
    return findings


# --- secrets ----------------------------------------------------------------------------------------------

PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")
AWS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
PASSWORD = re.compile(r"""(?i)\b[\w.]*(?:password|passwd|pwd|secret_key|secret|api_key|apikey|auth_token)\b"""
                      r"""\s*[:=]\s*(?P<q>['"])(?P<value>[^'"\s]{4,})(?P=q)""")
PLACEHOLDERS = re.compile(r"(?i)^(?:changeme|change-me|example|xxx+|\*+|<.*>|\$\{?\w+\}?|your[-_].*|dummy|test|"
                          r"password|secret)$")
SECRET_WHY = ("Everything in the repository is in every slug and in everyone's clone: a committed secret has to "
              "be rotated. Heroku's answer is config vars (`heroku config:set`), read from the environment.")


def rule_secrets(tree: AppTree) -> list[Finding]:
    findings: list[Finding] = []
    env_files = [rel for rel in tree.files if rel.name == ".env" or rel.name.startswith(".env.") and
                 rel.name not in (".env.example", ".env.sample", ".env.template")]
    for rel in env_files:
        if tree.tracked is not None and str(rel) in tree.tracked:
            findings.append(Finding("error", "secrets", str(rel), f"{rel} is tracked by git (`git ls-files`)",
                                    SECRET_WHY, f"`git rm --cached {rel}`, add it to .gitignore, rotate what it "
                                    "held and set it with `herokusim config:set`."))
        elif tree.tracked is None:
            findings.append(Finding("warning", "secrets", str(rel), f"{rel} sits in the app's directory (not a git "
                                    "checkout: it would be committed with the rest)", SECRET_WHY,
                                    f"Add {rel} to .gitignore and set its values with `herokusim config:set`."))
    for rel in tree.files:
        if _is_test(rel) or rel.name in (".env.example", ".env.sample", ".env.template"):
            continue
        text = tree.text(rel)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if PRIVATE_KEY.search(line):
                findings.append(Finding("error", "secrets", _where(rel, number), line.strip()[:80],
                                        SECRET_WHY, "Remove the key from the repository (and its history), "
                                        "rotate it, and pass it in a config var."))
            elif match := AWS_KEY.search(line):
                findings.append(Finding("error", "secrets", _where(rel, number), f"an AWS access key id "
                                        f"{match[0][:8]}…", SECRET_WHY, "Rotate the key and read it from "
                                        "AWS_ACCESS_KEY_ID in a config var."))
            elif (match := PASSWORD.search(line)) and not PLACEHOLDERS.match(match["value"]) and \
                    rel.name != ".env":
                findings.append(Finding("warning", "secrets", _where(rel, number), line.strip()[:120],
                                        SECRET_WHY, "Read it from the environment (`os.environ[\"...\"]`) and set "
                                        "it with `herokusim config:set`."))
    return findings


# --- dependencies -----------------------------------------------------------------------------------------

# import names whose distribution is named otherwise (the common ones)
IMPORT_TO_DIST = {"yaml": "pyyaml", "pil": "pillow", "cv2": "opencv_python", "sklearn": "scikit_learn",
                  "bs4": "beautifulsoup4", "dateutil": "python_dateutil", "dotenv": "python_dotenv", "jwt": "pyjwt",
                  "mysqldb": "mysqlclient", "attr": "attrs", "magic": "python_magic", "serial": "pyserial",
                  "usb": "pyusb", "dns": "dnspython", "jose": "python_jose", "multipart": "python_multipart",
                  "socketio": "python_socketio", "engineio": "python_engineio", "telegram": "python_telegram_bot",
                  "google": "google", "psycopg2": "psycopg2", "redis": "redis", "flask_sqlalchemy":
                  "flask_sqlalchemy", "gi": "pygobject", "zmq": "pyzmq", "crypto": "pycryptodome",
                  "ruamel": "ruamel_yaml", "docx": "python_docx", "slugify": "python_slugify"}
DIST_ALIASES = {"psycopg2": ("psycopg2_binary",), "crypto": ("pycryptodome", "pycrypto"),
                "google": ("google_", "protobuf")}
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def declared_dependencies(tree: AppTree) -> set[str] | None:
    """The distributions the app declares (requirements.txt, pyproject.toml, Pipfile), normalised; None when it
    declares none of these files."""
    found: set[str] | None = None

    def requirements(name: str, seen: set[str]) -> None:
        nonlocal found
        text = tree.text(name)
        if text is None or name in seen:
            return
        seen.add(name)
        found = found or set()
        for raw in text.splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line.startswith(("-r ", "--requirement ")):
                requirements(str(Path(name).parent / line.split(None, 1)[1]), seen)
            elif (match := REQUIREMENT.match(line)) and not line.startswith("-"):
                found.add(_norm(match["name"]))
            elif "#egg=" in line:
                found.add(_norm(line.split("#egg=", 1)[1]))

    requirements("requirements.txt", set())
    text = tree.text("pyproject.toml")
    if text is not None:
        found = found or set()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}
        project = data.get("project") or {}
        for spec in [*(project.get("dependencies") or []),
                     *(d for group in (project.get("optional-dependencies") or {}).values() for d in group)]:
            if match := REQUIREMENT.match(str(spec)):
                found.add(_norm(match["name"]))
        poetry = ((data.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
        found.update(_norm(name) for name in poetry)
    text = tree.text("Pipfile")
    if text is not None:
        found = found or set()
        try:
            found.update(_norm(name) for name in (tomllib.loads(text).get("packages") or {}))
        except tomllib.TOMLDecodeError:
            pass
    return found


def _local_modules(tree: AppTree) -> set[str]:
    names: set[str] = set()
    for rel in tree.files:
        if rel.suffix == ".py":
            names.add(rel.stem)
            names.update(rel.parts[:-1])
        elif rel.suffix in (".so", ".pyd"):
            names.add(rel.name.split(".", 1)[0])
    return names


def _optional_imports(module: ast.Module) -> set[int]:
    """The imports inside a `try:` that catches ImportError (the app runs without them)."""
    optional: set[int] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Try) and any(
                handler.type is None or any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError",
                                                                                 "Exception")
                                            for n in ast.walk(handler.type)) for handler in node.handlers):
            optional.update(id(sub) for stmt in node.body for sub in ast.walk(stmt)
                            if isinstance(sub, ast.Import | ast.ImportFrom))
    return optional


def rule_dependencies(tree: AppTree) -> list[Finding]:
    if not tree.python:
        return []
    declared = declared_dependencies(tree) or set()
    local = _local_modules(tree)
    findings: list[Finding] = []
    reported: set[str] = set()
    for rel, module in tree.python:
        text = tree.text(rel) or ""
        optional = _optional_imports(module)
        for node in ast.walk(module):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name in reported or name in sys.stdlib_module_names or name in local or name == "__future__":
                    continue
                key = _norm(name)
                dist = IMPORT_TO_DIST.get(key, key)
                candidates = {key, dist, *DIST_ALIASES.get(key, ())}
                if any(d in declared or any(x.startswith(d) for x in declared if d.endswith("_"))
                       for d in candidates):
                    continue
                reported.add(name)
                manifest = "requirements.txt" if tree.exists("requirements.txt") or not (
                    tree.exists("pyproject.toml") or tree.exists("Pipfile")) else "pyproject.toml"
                findings.append(Finding("error", "dependencies", _where(rel, node.lineno),
                                        f"{_line(text, node.lineno)}  ({name} is not in the standard library "
                                        f"and not declared)", "The Python buildpack installs only what "
                                        "requirements.txt (or pyproject.toml) declares: on a dyno the import "
                                        "fails with ModuleNotFoundError and the process crashes.",
                                        f"Add {dist.replace('_', '-')} to {manifest}."))
    return findings


# --- slug size, release phase, app.json ---------------------------------------------------------------------


def _size(tree: AppTree, keep: Callable[[Path], bool]) -> int:
    total = 0
    for rel in tree.files:
        if keep(rel):
            try:
                total += (tree.root / rel).stat().st_size
            except OSError:
                continue
    return total


def rule_slugignore(tree: AppTree) -> list[Finding]:
    if tree.exists(".slugignore"):
        return []
    findings = []
    for name in TEST_DIRS:
        size = _size(tree, lambda rel, name=name: rel.parts[0] == name)
        if size > LARGE_BYTES:
            findings.append((name + "/", size))
    assets = _size(tree, lambda rel: rel.suffix.lower() in ASSET_SUFFIXES and rel.parts[0] not in TEST_DIRS)
    if assets > LARGE_BYTES:
        findings.append(("asset files (" + ", ".join(sorted({r.suffix.lower() for r in tree.files
                                                             if r.suffix.lower() in ASSET_SUFFIXES})) + ")", assets))
    return [Finding("warning", "slugignore", what, f"{what} holds {size / 1024 / 1024:.1f} MB and there is no "
                    ".slugignore", "Every file of the push goes into the slug (max 500 MB compressed): a bigger "
                    "slug builds, releases and boots more slowly on every dyno start.",
                    f"Add a .slugignore listing {what.split(' ')[0]} (what the dynos never read).")
            for what, size in findings]


def rule_release_phase(tree: AppTree) -> list[Finding]:
    try:
        types = tree.procfile or {}
    except ProcfileError:
        return []
    if "release" in types:
        return []
    marks = [m for m in ("alembic.ini", "manage.py") if tree.exists(m)]
    marks += sorted({str(Path(*rel.parts[:rel.parts.index("migrations") + 1])) + "/" for rel in tree.files
                     if "migrations" in rel.parts[:-1]})[:1]
    if tree.exists("migrations") and not any(m.endswith("migrations/") for m in marks):
        marks.append("migrations/")
    if not marks:
        return []
    return [Finding("warning", "release-phase", marks[0], f"migrations exist ({', '.join(marks)}) and the Procfile "
                    "has no `release` process", "Without a release phase the new code runs against the old schema "
                    "until someone runs the migrations by hand; a release phase runs them before any dyno starts "
                    "on the new release, and a failed one stops the release.",
                    "Add `release: <migrate command>` to the Procfile (e.g. `release: python manage.py migrate` "
                    "or `release: alembic upgrade head`).")]


def rule_app_json(tree: AppTree) -> list[Finding]:
    text = tree.text("app.json")
    if text is None:
        return []
    try:
        parse_manifest(text)
    except AppJsonError as exc:
        return [Finding("error", "app-json", "app.json", str(exc), "Heroku Buttons, review apps and app setups "
                        "(`herokusim setup`) read app.json: an invalid one fails them before anything is built.",
                        "Fix the field the message names (Heroku's app.json schema).")]
    return []


RULES: dict[str, Callable[[AppTree], list[Finding]]] = {
    "procfile": rule_procfile, "port": rule_port, "ephemeral-fs": rule_ephemeral_fs, "secrets": rule_secrets,
    "dependencies": rule_dependencies, "slugignore": rule_slugignore, "release-phase": rule_release_phase,
    "app-json": rule_app_json,
}


def static_findings(root: Path) -> list[Finding]:
    """Every static rule over the app at `root`, errors first."""
    tree = AppTree(root)
    findings = [finding for rule in RULES.values() for finding in sorted(rule(tree), key=_place)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def _place(finding: Finding) -> tuple[str, int]:
    """A finding's file and line, to list one rule's findings in file order."""
    name, _, line = finding.where.rpartition(":")
    return (name, int(line)) if line.isdigit() else (finding.where, 0)
