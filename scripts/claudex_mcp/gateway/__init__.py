"""gateway: one process per shared server for every agent (docs/gateway.md).

    place     the gateway's private runtime folder, its socket, locks and state file
    client    the bridge (`run` of a shared server: stdio to a gateway session) and control requests
    daemon    the gateway process: the unix socket, sessions, idle stop, status and stop
    upstream  one shared server process and the sessions multiplexed onto it
    web       the HTTP endpoint: MCP streamable HTTP, /mcp aggregating every enabled server, /servers/NAME/mcp
    entry     `generate --via-gateway`: one client entry at the aggregate endpoint
    auth      the HTTP endpoint's guards: bearer token file, constant-time check, Origin, bind address

Imports runtime, clients, settings, store, schemas and the top-level modules."""
