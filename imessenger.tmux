#!/usr/bin/env sh
# TPM runs the *.tmux files at the top of a plugin's repository: the plugin is tmux/.
exec sh "$(dirname "$0")/tmux/imessenger.tmux"
