#!/bin/sh
# Docker entrypoint: regenerate the MCP client configs from the (cached) registry, then exec the
# container's command. A failed generation never stops the container: its error goes to stderr.
#
# CLAUDEX_MCP_GENERATE lists what to write, "client[:scope]" separated by spaces
# (default "claude-code"; e.g. "claude-code claude-code:user codex").
for target in ${CLAUDEX_MCP_GENERATE:-claude-code}; do
  client=${target%%:*}
  scope=default
  case $target in *:*) scope=${target#*:} ;; esac
  if ! claudex mcp generate --client "$client" --scope "$scope" >/dev/null; then
    echo "docker-entrypoint: 'claudex mcp generate --client $client --scope $scope' failed; starting anyway" >&2
  fi
done
exec "$@"
