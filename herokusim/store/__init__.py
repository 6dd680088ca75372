"""store/: herokusim's state in sqlite — the records (store/models), the Store that reads and writes them
(store/sqlite), the per-app write locks (store/locks) and the schema with its migrations (store/schema)."""

from herokusim.store.locks import AppLocks
from herokusim.store.models import App, Build, Domain, DynoRecord, Formation, Release, Slug, new_id
from herokusim.store.sqlite import SQLITE_MAX_INTEGER, Store, sqlite_integer

__all__ = ["SQLITE_MAX_INTEGER", "App", "AppLocks", "Build", "Domain", "DynoRecord", "Formation", "Release",
           "Slug", "Store", "new_id", "sqlite_integer"]
