"""imessenger: coordinate AI coding agents running side by side in tmux."""

from __future__ import annotations

__version__ = "0.1.0"
