"""``python -m imessenger`` runs the ``imessenger`` command."""

from __future__ import annotations

from imessenger.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="imessenger")
