"""testing/: offline testing of real apps on herokusim — the `herokusim doctor` rules (rules.py: the static
pass, pure) and its runner (doctor.py: both passes, the dynamic one as a client of the running daemon), and
the pytest plugin (pytest_plugin.py: the `herokusim` and `deploy` fixtures)."""
