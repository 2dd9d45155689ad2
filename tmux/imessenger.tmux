#!/usr/bin/env sh
# imessenger's tmux plugin: keys to answer, message and find agents, a status-line
# segment, and the watcher. Load it with TPM (set -g @plugin '...') or with
# `run-shell /path/to/imessenger.tmux`; `imessenger tmux-conf` prints the lines.
#
# This file only reads the @imessenger-* options (each default is beside it) and binds
# keys; the work is done by `imessenger` commands (scripts/run.sh runs them on this
# tmux server). Set a key option to "none" to leave that key unbound.

CURRENT_DIR="$(cd "$(dirname "$0")" && pwd)"
RUN="sh '$CURRENT_DIR/scripts/run.sh'"

option() { # option NAME DEFAULT: the value of the global option @NAME, else DEFAULT
    value=$(tmux show-option -gqv "@$1")
    if [ -n "$value" ]; then printf '%s' "$value"; else printf '%s' "$2"; fi
}

menu_key=$(option imessenger-menu-key a)           # approval menu
next_key=$(option imessenger-next-key A)           # jump to the next session that is asking
send_key=$(option imessenger-send-key S)           # send popup
inbox_key=$(option imessenger-inbox-key N)         # inbox popup
dashboard_key=$(option imessenger-dashboard-key W) # dashboard popup
popup_width=$(option imessenger-popup-width 80%)
popup_height=$(option imessenger-popup-height 70%)
watch=$(option imessenger-watch on)                # start `imessenger watch --daemon` on load
restore=$(option imessenger-restore off)           # restore the sessions when tmux starts

bind() { # bind KEY NOTE COMMAND...: a prefix key with a note for `prefix ?`
    key=$1 note=$2
    shift 2
    [ "$key" = none ] && return
    tmux bind-key -N "$note" "$key" "$@"
}

bind "$menu_key" "imessenger: answer the sessions asking for permission" \
    run-shell -b "$RUN approve-menu -c '#{client_name}'"
bind "$next_key" "imessenger: jump to the next session asking for permission" \
    run-shell -b "$RUN jump -c '#{client_name}'"
bind "$send_key" "imessenger: write a message and send it to a session" \
    display-popup -E -w "$popup_width" -h "$popup_height" -T " imessenger: send " \
    "$RUN compose --wait-key"
bind "$inbox_key" "imessenger: show your inbox and the sessions asking" \
    display-popup -E -w "$popup_width" -h "$popup_height" -T " imessenger: inbox " \
    "sh '$CURRENT_DIR/scripts/inbox.sh'"
bind "$dashboard_key" "imessenger: the dashboard of all sessions" \
    display-popup -E -w "$popup_width" -h "$popup_height" -T " imessenger " \
    "$RUN dashboard"

# The status-line segment: #{imessenger_status} in status-left/right becomes a call to
# `imessenger status` (as tmux-plugins do); #{E:@imessenger-status} works anywhere.
segment="#($RUN status)"
tmux set-option -gq @imessenger-status "$segment"
for side in status-left status-right; do
    value=$(tmux show-option -gqv "$side")
    case $value in
    *"#{imessenger_status}"*)
        before=${value%%"#{imessenger_status}"*}
        after=${value#*"#{imessenger_status}"}
        tmux set-option -gq "$side" "$before$segment$after"
        ;;
    esac
done

if [ "$watch" = on ]; then
    sh "$CURRENT_DIR/scripts/run.sh" watch --daemon >/dev/null 2>&1 &
fi

# Restore the sessions that ended with the last tmux server (@imessenger-restore on), in
# the background: only when this server has just started, that is, it started at most
# RESTORE_WINDOW seconds ago (the plugin is being loaded from its config), and only once
# per server (@imessenger-restored, set here, says it was done). `imessenger
# restore-on-start` shows the outcome on the clients and leaves it in the inbox.
RESTORE_WINDOW=60
seconds() { # seconds VALUE: whether VALUE is a number of seconds (digits only)
    case $1 in '' | *[!0-9]*) return 1 ;; esac
}
if [ "$restore" = on ] && [ -z "$(tmux show-option -gqv @imessenger-restored)" ]; then
    started=$(tmux display-message -p '#{start_time}')
    now=$(date +%s)
    if seconds "$started" && seconds "$now" && [ $((now - started)) -le "$RESTORE_WINDOW" ]; then
        tmux set-option -gq @imessenger-restored "$now"
        # "|| true": tmux would show a failure's exit status in a pane (view mode), which
        # keeps messages from that session; the command has said what failed
        tmux run-shell -b "$RUN restore-on-start >/dev/null 2>&1 || true"
    fi
fi
