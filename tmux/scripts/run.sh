#!/bin/sh
# Run `imessenger ARGS...` (the @imessenger-command option, default "imessenger") on the
# tmux server this script was started from (tmux's $TMUX names its socket).
socket=${TMUX%%,*}
if [ -n "$socket" ]; then
    IMESSENGER_TMUX_SOCKET=${socket##*/}
    export IMESSENGER_TMUX_SOCKET
fi
command=$(tmux show-option -gqv @imessenger-command)
exec ${command:-imessenger} "$@"
