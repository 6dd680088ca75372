"""appjson: an app's `app.json` manifest (Heroku's app.json schema), parsed and validated — pure, for the
daemon's app setups (`POST /app-setups`) and for the CLI's `herokusim setup`, which reads it first to prompt for
required variables.

What herokusim uses: `env` (a plain string, or `{"value", "description", "required", "generator"}`;
`required` defaults to true as on Heroku, `generator` may only be "secret": 64 random hex digits),
`formation` (`{"web": {"quantity": 1, "size": "basic"}}`), `buildpacks` (`[{"url": ...}]`), `addons` (names or
`{"plan": ...}`), `scripts.postdeploy` (a command, or `{"command": ...}`), `success_url`. The descriptive
fields (`name`, `description`, `keywords`, `logo`, `website`, `repository`) are checked for their type only;
other keys are ignored, as Heroku does. Every error names the field: `app.json: env.SECRET.generator must be
"secret"`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

MAX_MANIFEST_BYTES = 1024 * 1024
MAX_QUANTITY = 100
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
PROCESS_TYPE = re.compile(r"[-\w]{1,128}", re.ASCII)
STRING_FIELDS = ("name", "description", "logo", "website", "repository", "success_url", "stack", "image")


class AppJsonError(ValueError):
    """app.json is not what Heroku's schema allows; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(f"app.json: {message}")


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    description: str | None = None
    required: bool = True
    generator: str | None = None


@dataclass(frozen=True)
class Process:
    quantity: int | None = None
    size: str | None = None


@dataclass(frozen=True)
class AddonSpec:
    """One of app.json's `addons`: `"heroku-postgresql:essential-0"`, or `{"plan": ..., "as": "NAME",
    "options": {"flag": "value"}}`."""

    plan: str
    as_name: str | None = None
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Manifest:
    env: dict[str, EnvVar] = field(default_factory=dict)
    formation: dict[str, Process] = field(default_factory=dict)
    buildpacks: list[str] = field(default_factory=list)
    addons: list[str] = field(default_factory=list)
    addon_specs: list[AddonSpec] = field(default_factory=list)  # the same add-ons, with `as` and `options`
    postdeploy: str | None = None
    success_url: str | None = None
    name: str | None = None

    def resolve_env(self, overrides: dict[str, str]) -> tuple[dict[str, str], list[EnvVar]]:
        """The config vars to set (overrides win, then values, then generated secrets; overrides of vars the
        manifest does not name are set too, as Heroku does) and the required variables still without one."""
        config: dict[str, str] = {}
        missing: list[EnvVar] = []
        for var in self.env.values():
            if var.name in overrides:
                config[var.name] = overrides[var.name]
            elif var.value is not None:
                config[var.name] = var.value
            elif var.generator == "secret":
                config[var.name] = secrets.token_hex(32)
            elif var.required:
                missing.append(var)
        for name, value in overrides.items():
            config.setdefault(name, value)
        return config, missing


def parse_manifest(text: str | bytes) -> Manifest:
    if len(text) > MAX_MANIFEST_BYTES:
        raise AppJsonError(f"larger than {MAX_MANIFEST_BYTES // 1024} kB")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AppJsonError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AppJsonError("must be a JSON object")
    for key in STRING_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise AppJsonError(f"{key} must be a string")
    keywords = data.get("keywords")
    if keywords is not None and not (isinstance(keywords, list) and all(isinstance(k, str) for k in keywords)):
        raise AppJsonError("keywords must be a list of strings")
    return Manifest(env=_env(data.get("env")), formation=_formation(data.get("formation")),
                    buildpacks=_buildpacks(data.get("buildpacks")), addons=_addons(data.get("addons")),
                    addon_specs=_addon_specs(data.get("addons")),
                    postdeploy=_postdeploy(data.get("scripts")), success_url=data.get("success_url"),
                    name=data.get("name"))


def _env(env: Any) -> dict[str, EnvVar]:
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise AppJsonError('env must be an object: {"NAME": "value"} or {"NAME": {"description": "..."}}')
    out = {}
    for name, spec in env.items():
        where = f"env.{name}"
        if not ENV_NAME.fullmatch(name):
            raise AppJsonError(f"{where}: a config var name has letters, digits and underscores only")
        if isinstance(spec, str):
            out[name] = EnvVar(name, value=spec)
            continue
        if not isinstance(spec, dict):
            raise AppJsonError(f'{where} must be a string or an object ({{"value": "...", "required": true}})')
        value = spec.get("value")
        if value is not None and not isinstance(value, str):
            raise AppJsonError(f"{where}.value must be a string")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise AppJsonError(f"{where}.description must be a string")
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise AppJsonError(f"{where}.required must be true or false")
        generator = spec.get("generator")
        if generator is not None and generator != "secret":
            raise AppJsonError(f'{where}.generator must be "secret"')
        out[name] = EnvVar(name, value, description, required, generator)
    return out


def _formation(formation: Any) -> dict[str, Process]:
    if formation is None:
        return {}
    if not isinstance(formation, dict):
        raise AppJsonError('formation must be an object: {"web": {"quantity": 1, "size": "basic"}}')
    out = {}
    for ptype, spec in formation.items():
        where = f"formation.{ptype}"
        if not PROCESS_TYPE.fullmatch(ptype):
            raise AppJsonError(f"{where}: a process type has letters, digits, dashes and underscores only")
        if not isinstance(spec, dict):
            raise AppJsonError(f'{where} must be an object: {{"quantity": 1, "size": "basic"}}')
        quantity = spec.get("quantity")
        if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)
                                     or not 0 <= quantity <= MAX_QUANTITY):
            raise AppJsonError(f"{where}.quantity must be a whole number from 0 to {MAX_QUANTITY}")
        size = spec.get("size")
        if size is not None and not isinstance(size, str):
            raise AppJsonError(f"{where}.size must be a string (a dyno size: basic, standard-1X, ...)")
        out[ptype] = Process(quantity, size)
    return out


def _buildpacks(buildpacks: Any) -> list[str]:
    if buildpacks is None:
        return []
    if not isinstance(buildpacks, list):
        raise AppJsonError('buildpacks must be a list: [{"url": "heroku/python"}]')
    urls = []
    for index, item in enumerate(buildpacks):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"].strip():
            raise AppJsonError(f'buildpacks[{index}].url must be a string: {{"url": "heroku/python"}}')
        urls.append(item["url"].strip())
    return urls


def _addons(addons: Any) -> list[str]:
    if addons is None:
        return []
    if not isinstance(addons, list):
        raise AppJsonError('addons must be a list: ["heroku-postgresql"] or [{"plan": "heroku-postgresql"}]')
    plans = []
    for index, item in enumerate(addons):
        plan = item.get("plan") if isinstance(item, dict) else item
        if not isinstance(plan, str) or not plan.strip():
            raise AppJsonError(f'addons[{index}] must be a plan name or {{"plan": "heroku-postgresql"}}')
        plans.append(plan.strip())
    return plans


def _addon_specs(addons: Any) -> list[AddonSpec]:
    specs = []
    for index, (item, plan) in enumerate(zip(addons or [], _addons(addons), strict=True)):
        if not isinstance(item, dict):
            specs.append(AddonSpec(plan))
            continue
        as_name, options = item.get("as"), item.get("options") or {}
        if as_name is not None and (not isinstance(as_name, str) or not as_name.strip()):
            raise AppJsonError(f'addons[{index}].as must be an attachment name: {{"as": "DATABASE"}}')
        if not isinstance(options, dict) or not all(isinstance(v, (str, int, float, bool)) for v in options.values()):
            raise AppJsonError(f'addons[{index}].options must be an object: {{"options": {{"url": "..."}}}}')
        specs.append(AddonSpec(plan, as_name.strip() if as_name else None,
                               {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}))
    return specs


def _postdeploy(scripts: Any) -> str | None:
    if scripts is None:
        return None
    if not isinstance(scripts, dict):
        raise AppJsonError('scripts must be an object: {"postdeploy": "python manage.py migrate"}')
    for name, script in scripts.items():
        command = script.get("command") if isinstance(script, dict) else script
        if not isinstance(command, str) or not command.strip():
            raise AppJsonError(f'scripts.{name} must be a command or {{"command": "..."}}')
    script = scripts.get("postdeploy")
    if script is None:
        return None
    return (script["command"] if isinstance(script, dict) else script).strip()
