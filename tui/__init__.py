"""tui/: the Textual terminal UI (`herokusim tui`), a client of api/ like the CLI."""
