"""An agent's MCP client, as far as imessenger's server sees one: run it in a session.

Usage: python mcp_client.py OUTPUT_FILE. It starts ``python -m imessenger mcp`` as its
child over stdio, with the handshake the agents use (``initialize``, then
``notifications/initialized``), calls the ``sessions`` tool, writes its structured
result as JSON to OUTPUT_FILE (or the error, under "error"), then keeps the
connection open until it is killed, like an agent that runs on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def main(output: Path) -> None:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "imessenger", "mcp"], env=dict(os.environ)
    )
    async with Client(server, mode="legacy") as client:
        result = await client.call_tool("sessions", {})
        done = result.structured_content if not result.is_error else {"error": str(result)}
        partial = output.with_suffix(".partial")
        partial.write_text(json.dumps(done))
        partial.rename(output)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
