#!/bin/sh
# Docker entrypoint: write the MCP client configs from the (cached) registry, then exec the
# container's command. By default that is what makes Claude Code and Codex see the servers from
# any working folder: ~/.claude.json (Claude Code's user scope), ~/.mcp.json (a compatibility
# copy) and $CODEX_HOME/config.toml; entries claudex did not write are kept; no secret is written.
# A failed generation never stops the container: its error goes to stderr.
#
# CLAUDEX_MCP_GENERATE  "client[:scope] ..." to write instead of the default (e.g. "claude-code:user codex")
# CLAUDEX_MCP_WATCH=1   also start 'claudex mcp watch' in the background: configs follow the
#                       registry and config changes (servers installed at run time) until the container stops
# CLAUDEX_CLAUDE_TRUSTED_FOLDERS  "DIR ..." (off by default): folders to mark trusted in Claude Code,
#                       as accepting its trust dialog there does; Claude Code starts no MCP server in a
#                       folder nobody trusted. Name only workspaces whose files you trust (their
#                       .mcp.json, settings and hooks then apply).
home=${HOME:-/}

# claudex mcp generate [ARGS...], with --trust-folder for each folder of CLAUDEX_CLAUDE_TRUSTED_FOLDERS
# (a function, so that its "$@" is its own and the container's command stays untouched).
generate() {
  for folder in ${CLAUDEX_CLAUDE_TRUSTED_FOLDERS:-}; do
    set -- "$@" --trust-folder "$folder"
  done
  claudex mcp generate "$@" >/dev/null
}

if [ ! -w "$home" ]; then
  # A mounted home that belongs to another uid: say what to do instead of failing later.
  owner=$(stat -c %u:%g "$home" 2>/dev/null || echo unknown)
  echo "docker-entrypoint: HOME $home (owner $owner) is not writable by uid $(id -u):$(id -g); no client config written." \
       "Run with --user $owner, or chown the volume to $(id -u):$(id -g)" >&2
elif [ -z "${CLAUDEX_MCP_GENERATE:-}" ]; then
  if ! generate; then
    echo "docker-entrypoint: 'claudex mcp generate' failed; starting anyway" >&2
  fi
else
  for target in $CLAUDEX_MCP_GENERATE; do
    client=${target%%:*}
    scope=default
    case $target in *:*) scope=${target#*:} ;; esac
    if ! generate --client "$client" --scope "$scope"; then
      echo "docker-entrypoint: 'claudex mcp generate --client $client --scope $scope' failed; starting anyway" >&2
    fi
  done
fi
case ${CLAUDEX_MCP_WATCH:-0} in
  1|true|yes) claudex mcp watch </dev/null >/dev/null & ;;
esac
exec "$@"
