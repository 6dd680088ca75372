"""The app screen's add-ons pane against recorded API answers: the app's add-ons with their plan, state,
connections, size and the names they are attached as; hidden for an app without add-ons (or a daemon without
them)."""

from __future__ import annotations

from typing import Any

from test_tui_recorded import row_of, run, shown, until
from textual.pilot import Pilot
from textual.widgets import DataTable
from tui_recorded import ANSWERS, APP, pg_info

from herokusim.client import ApiError
from tui import screens
from tui.app import HerokusimTui
from tui.panes import AddonsPane, ConfigPane

DB = {"id": "01a1c0de-0000-4000-8000-000000000001", "name": "postgresql-curved-12345"}
CACHE = {"id": "01a1c0de-0000-4000-8000-000000000002", "name": "redis-shaped-67890"}


def addon(ident: dict[str, str], service: str, plan: str, state: str, config_vars: list[str]) -> dict[str, Any]:
    return {**ident, "addon_service": {"id": f"svc-{service}", "name": service}, "app": APP,
            "plan": {"id": f"plan-{plan}", "name": f"{service}:{plan}"}, "state": state,
            "config_vars": config_vars, "provider_id": "x", "web_url": None}


def attachment(ident: dict[str, str], name: str) -> dict[str, Any]:
    return {"id": f"att-{name}", "name": name, "addon": {**ident, "app": APP}, "app": APP}


WITH_ADDONS = {
    **ANSWERS,
    "GET /apps/demo/addons": [
        addon(CACHE, "heroku-redis", "mini", "provisioning", ["REDIS_URL"]),
        addon(DB, "heroku-postgresql", "essential-0", "provisioned",
              ["DATABASE_URL", "HEROKU_POSTGRESQL_AMBER_URL"]),
    ],
    "GET /apps/demo/addon-attachments": [attachment(DB, "DATABASE"), attachment(DB, "HEROKU_POSTGRESQL_AMBER"),
                                         attachment(CACHE, "REDIS")],
    f"GET /apps/demo/addons/{DB['id']}/pg-info": pg_info(DB, "3/20", "7.2 MB / 1 GB (0.71%) (In compliance)"),
}
PG_INFO = f"GET /apps/demo/addons/{DB['id']}/pg-info"


def test_the_pane_lists_each_addon_with_plan_state_and_attachments() -> None:
    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "addons-table")
        pane = tui.screen.query_one(AddonsPane)
        assert pane.display and tui.screen.query_one(ConfigPane).display, "add-ons share the config's cell"
        await until(pilot, lambda: row_of(table, DB["id"])["connections"] != "…", "the database's pg-info")
        assert [row_of(table, key) for key in (DB["id"], CACHE["id"])] == [
            {"add-on": DB["name"], "plan": "heroku-postgresql:essential-0", "state": "provisioned",
             "connections": "3/20", "size": "7.2 MB / 1 GB (0.71%)", "as": "DATABASE, HEROKU_POSTGRESQL_AMBER"},
            {"add-on": CACHE["name"], "plan": "heroku-redis:mini", "state": "provisioning",
             "connections": "–", "size": "–", "as": "REDIS"},  # this daemon has no redis-info to read them from
        ]
        assert tui.api.calls.count(PG_INFO) == 1  # type: ignore[attr-defined]
        assert not any("redis" in call for call in tui.api.calls if call.endswith("info"))  # type: ignore[attr-defined]

    run(WITH_ADDONS, body)


def test_config_vars_name_the_attachments_when_the_daemon_does_not_list_them() -> None:
    answers = {k: v for k, v in WITH_ADDONS.items() if k != "GET /apps/demo/addon-attachments"}

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "addons-table")
        assert row_of(table, CACHE["id"])["as"] == "REDIS_URL"

    run(answers, body, size=(80, 24))


def test_no_addons_no_pane_and_the_last_one_destroyed_hides_it() -> None:
    answers = {**WITH_ADDONS, "GET /apps/demo/addons": []}

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        await shown(pilot, "config-table")
        api = tui.api
        await until(pilot, lambda: api.calls.count("GET /apps/demo/addons") >= 2, "two polls")  # type: ignore[attr-defined]
        assert not tui.screen.query_one(AddonsPane).display
        api.answers["GET /apps/demo/addons"] = WITH_ADDONS["GET /apps/demo/addons"][:1]  # type: ignore[attr-defined]
        table = tui.screen.query_one("#addons-table", DataTable)
        await until(pilot, lambda: tui.screen.query_one(AddonsPane).display and table.row_count == 1,
                    "the add-on created from another terminal")
        api.answers["GET /apps/demo/addons"] = []  # type: ignore[attr-defined]
        await until(pilot, lambda: not tui.screen.query_one(AddonsPane).display, "the pane to hide again")

    run(answers, body)


def test_connections_and_size_are_read_at_most_every_five_seconds(monkeypatch: Any) -> None:
    clock = [1000.0]  # the pane's clock stands still until the test moves it
    monkeypatch.setattr(screens, "usage_clock", lambda: clock[0])
    answers = dict(WITH_ADDONS)

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        api = tui.api
        table = await shown(pilot, "addons-table")
        await until(pilot, lambda: row_of(table, DB["id"])["connections"] == "3/20", "the first reading")
        polls = api.calls.count("GET /apps/demo/addons")  # type: ignore[attr-defined]
        await until(pilot, lambda: api.calls.count("GET /apps/demo/addons") >= polls + 2,  # type: ignore[attr-defined]
                    "two more polls of the add-ons")
        assert api.calls.count(PG_INFO) == 1, "pg-info runs SQL: not once per poll"  # type: ignore[attr-defined]
        answers[PG_INFO] = pg_info(DB, "11/20", "9.5 MB / 1 GB (0.93%)")
        clock[0] += 4.9
        polls = api.calls.count("GET /apps/demo/addons")  # type: ignore[attr-defined]
        await until(pilot, lambda: api.calls.count("GET /apps/demo/addons") >= polls + 2,  # type: ignore[attr-defined]
                    "two more polls of the add-ons")
        assert api.calls.count(PG_INFO) == 1  # type: ignore[attr-defined]
        clock[0] += 0.1
        await until(pilot, lambda: row_of(table, DB["id"])["connections"] == "11/20", "the next reading, 5 s on")
        assert row_of(table, DB["id"])["size"] == "9.5 MB / 1 GB (0.93%)"
        assert api.calls.count(PG_INFO) == 2  # type: ignore[attr-defined]

    run(answers, body)


def test_a_failed_info_call_shows_unavailable_without_a_notification() -> None:
    answers = {**WITH_ADDONS, PG_INFO: ApiError("Internal server error.", 500, "internal_server_error")}

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "addons-table")
        await until(pilot, lambda: row_of(table, DB["id"])["connections"] != "…", "the database's pg-info")
        assert (row_of(table, DB["id"])["connections"], row_of(table, DB["id"])["size"]) == \
            ("unavailable", "unavailable")
        assert row_of(table, DB["id"])["state"] == "provisioned", "the rest of the row is as before"
        assert not tui._notifications, [n.message for n in tui._notifications]
        assert tui.screen.query_one(AddonsPane).display

    run(answers, body)


def test_a_database_whose_server_is_down_shows_unavailable() -> None:
    answers = {**WITH_ADDONS, PG_INFO: pg_info(DB, None, None)}  # pg-info answers, with no such lines

    async def body(tui: HerokusimTui, pilot: Pilot[None]) -> None:
        table = await shown(pilot, "addons-table")
        await until(pilot, lambda: row_of(table, DB["id"])["connections"] != "…", "the database's pg-info")
        assert row_of(table, DB["id"])["connections"] == row_of(table, DB["id"])["size"] == "unavailable"

    run(answers, body)
