"""`python -m herokusim`: the herokusim CLI (git's credential helper runs it this way too)."""

from herokusim.cli.main import main

if __name__ == "__main__":
    main(prog_name="herokusim")
