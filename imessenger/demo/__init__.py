"""The demo: a pretend agent to try imessenger on, and the guided tour that drives it.

``agent`` is a small terminal program that looks and behaves like a coding agent in
tmux (``python -m imessenger.demo.agent``, profile ``demo``); ``tour`` is the
``imessenger demo`` walk-through, which starts two of them and works with them.
"""
