#!/bin/sh
# The inbox popup: your unread inbox, then the sessions asking for permission.
run="$(dirname "$0")/run.sh"
sh "$run" inbox
echo
sh "$run" inbox --waiting
printf '\n[press Enter to close] '
read -r _
