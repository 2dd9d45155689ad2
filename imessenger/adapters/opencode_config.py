"""OpenCode's configuration for one session: isesh's additions in ``OPENCODE_CONFIG_CONTENT``.

OpenCode merges ``OPENCODE_CONFIG_CONTENT`` (a JSON text, comments allowed) over the
configuration it reads from the user's files, which stay where they are and are read
as usual. isesh puts its additions for the session there
(:mod:`imessenger.core.opencode_setup`). A user who sets ``OPENCODE_CONFIG_CONTENT``
themselves keeps it: the additions are merged into it, the user's own entries winning
where both name the same one (a plugin list is joined). The text is read from the
environment isesh starts the agent in; nothing is written anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from imessenger.adapters.gemini_home import strip_json_comments

#: The variable OpenCode reads the extra configuration from.
VARIABLE = "OPENCODE_CONFIG_CONTENT"


class ConfigUnreadable(ValueError):
    """The user's own ``OPENCODE_CONFIG_CONTENT`` is not a JSON object isesh can read."""


def _merged(mine: object, added: object) -> object:
    """``added`` merged under ``mine``: tables deeply, lists joined (``mine`` first, no
    repeats), and elsewhere ``mine`` wins."""
    if isinstance(mine, dict) and isinstance(added, dict):
        merged = dict(added)
        for key, value in mine.items():
            merged[key] = _merged(value, added[key]) if key in added else value
        return merged
    if isinstance(mine, list) and isinstance(added, list):
        return [*mine, *(item for item in added if item not in mine)]
    return mine


def merged_content(user_text: str | None, additions: Mapping[str, object]) -> str:
    """The user's ``OPENCODE_CONFIG_CONTENT`` (None or blank: none) with ``additions``
    merged in. Raises ConfigUnreadable."""
    user: dict[str, object] = {}
    if user_text is not None and user_text.strip():
        try:
            parsed = json.loads(strip_json_comments(user_text))
        except ValueError as error:
            raise ConfigUnreadable(str(error)) from None
        if not isinstance(parsed, dict):
            raise ConfigUnreadable("it is not a JSON object")
        user = parsed
    merged = _merged(user, dict(additions))
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":"))


def environment(additions: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """The variable that gives OpenCode ``additions`` over the user's own (from
    ``environ``). Raises ConfigUnreadable."""
    return {VARIABLE: merged_content(environ.get(VARIABLE), additions)}
