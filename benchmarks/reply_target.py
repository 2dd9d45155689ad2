"""A target for the reply-latency benchmark: answers each envelope after a pause.

It reads its terminal raw, as agent UIs do. For every imessenger envelope that
arrives it waits ``--pause-ms``, notes the wall-clock time in ``TIMES_FILE``
(one line: message id and time) and prints the reply block at once, so the
benchmark can compare that time with the moment ``send`` returned.
"""

from __future__ import annotations

import argparse
import os
import re
import termios
import time
import tty

ENVELOPE_ID = re.compile(rb"<<IMSG-REPLY ([0-9a-f]+)>>")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("times_file")
    parser.add_argument("--pause-ms", type=int, default=0)
    args = parser.parse_args()
    tty.setraw(0, termios.TCSANOW)
    os.write(1, b"\x1b[?2004h")
    pending = b""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return
        pending += chunk
        if not pending.endswith(b"\r") or b"\x1b[201~" not in pending:
            continue  # wait for the end of the paste and the submit key
        found = ENVELOPE_ID.findall(pending)
        pending = b""
        if not found:
            continue
        message_id = found[-1].decode()
        time.sleep(args.pause_ms / 1000)
        block = f"\r\n● <<IMSG-REPLY {message_id}>>\r\n  ok\r\n  <<IMSG-END {message_id}>>\r\n"
        printed = time.time()
        os.write(1, block.encode())
        with open(args.times_file, "a", encoding="utf-8") as times:
            times.write(f"{message_id} {printed}\n")


if __name__ == "__main__":
    main()
