"""``python -m imessenger`` runs the ``imessenger`` command."""

from __future__ import annotations

from imessenger.interfaces.cli.entry import main

if __name__ == "__main__":
    main()
