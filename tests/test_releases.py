"""Release descriptions, config validation, the Range header and the release ledger in sqlite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from herokusim.api.ranges import BadRange, apply_range, parse_range
from herokusim.clock import Clock
from herokusim.errors import InvalidParams
from herokusim.releases import config_description, deploy_description, scaled_to, validate_config
from herokusim.store import Store


def test_config_descriptions() -> None:
    assert config_description({}, {"GREETING": "hi"}) == "Set GREETING config vars"
    assert config_description({"A": "1"}, {"A": "1", "B": "2", "C": "3"}) == "Set B, C config vars"
    assert config_description({"A": "1"}, {"A": None}) == "Remove A config vars"
    assert config_description({"A": "1"}, {"A": None, "B": "x"}) == "Set B and remove A config vars"


def test_no_release_when_nothing_changes() -> None:
    assert config_description({"A": "1"}, {"A": "1"}) is None
    assert config_description({}, {"MISSING": None}) is None


def test_deploy_description_uses_short_sha() -> None:
    assert deploy_description("8477ac80e6f1") == "Deploy 8477ac80"


def test_config_validation() -> None:
    assert validate_config({"PORTS": 3, "DEBUG": True, "GONE": None}) == {"PORTS": "3", "DEBUG": "true",
                                                                         "GONE": None}
    for bad in ("1ABC", "WITH-DASH", "", "SPACE KEY"):
        with pytest.raises(InvalidParams, match="Invalid config var name"):
            validate_config({bad: "x"})
    with pytest.raises(InvalidParams):
        validate_config({"NESTED": {"a": 1}})


def test_range_header() -> None:
    items = [{"version": v} for v in range(1, 6)]
    page, nxt = apply_range(items, parse_range("version ..; order=desc, max=2", "id", ("id", "version")))
    assert [i["version"] for i in page] == [5, 4]
    assert nxt == "version ]4..; max=2, order=desc"  # Heroku's form: after the last one sent
    page, nxt = apply_range(items, parse_range(nxt, "id", ("id", "version")))
    assert [i["version"] for i in page] == [3, 2]
    page, nxt = apply_range(items, parse_range(None, "version", ("id", "version")))
    assert len(page) == 5 and nxt is None
    with pytest.raises(BadRange):
        parse_range("colour ..", "id", ("id", "version"))
    assert parse_range("id ..; max=5000", "id", ("id",)).max == 1000


def test_store_versions_and_current_release(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await Store.open(tmp_path / "db.sqlite", Clock())
        try:
            app, first = await store.create_app("demo", "heroku-24", "us", "dev@herokusim.local")
            # Heroku's new app: v1 and v2, so that a first deploy is v3
            assert [(r.version, r.description, r.status, r.slug_id) for r in first] == [
                (1, "Initial release", "succeeded", None), (2, "Enable Logplex", "succeeded", None)]
            v3 = await store.create_release(app.id, "Set A config vars", None, {"A": "1"}, "u")
            failed = await store.create_release(app.id, "Deploy abc1234", None, {"A": "1"}, "u", status="failed")
            assert (v3.version, failed.version) == (3, 4)
            assert (await store.current_release(app.id)).version == 3, "a failed release is never current"
            assert (await store.get_release(app.id, "v3")) == v3
            assert (await store.get_release(app.id, v3.id)) == v3
            assert await store.get_release(app.id, "9") is None
            await store.delete_app(app.id)
            assert await store.list_apps() == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_store_survives_reopen_and_migrates_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await Store.open(tmp_path / "db.sqlite", Clock())
        await store.create_app("kept", "heroku-24", "us", "u")
        await store.close()
        store = await Store.open(tmp_path / "db.sqlite", Clock())
        try:
            assert [a.name for a in await store.list_apps()] == ["kept"]
            async with store.db.execute("PRAGMA journal_mode") as cur:
                assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_formation_follows_process_types(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await Store.open(tmp_path / "db.sqlite", Clock())
        try:
            app, _ = await store.create_app("demo", "heroku-24", "us", "u")
            started = await store.sync_formation(app.id, {"web": "python app.py", "worker": "python w.py",
                                                          "release": "python migrate.py"})
            assert scaled_to(started) == "web@1:Standard-1X", "a first deploy scales web, not worker"
            assert {(f.type, f.quantity) for f in await store.list_formation(app.id)} == {("web", 1), ("worker", 0)}
            await store.scale_formation(app.id, [("web", 3, None)])
            assert await store.sync_formation(app.id, {"web": "gunicorn app"}) == [], "web was already there"
            formation = await store.list_formation(app.id)
            assert [(f.type, f.quantity, f.command) for f in formation] == [("web", 3, "gunicorn app")]
        finally:
            await store.close()

    asyncio.run(scenario())
