"""runtime: servers running, as clients run them.

    launcher     preparing a server's start (`claudex mcp run`): config, variables, log, run record
    sdk_probe    a full MCP session with the official SDK (test, upgrade's health check)
    quick_probe  the quick stdio handshake `status` runs, without the SDK
    checks       the health of many servers at once, results kept for healthCheck.interval
    toolcall     calling one tool of a server from the shell
    info         everything known about one server
    runners      `npx -y PKG` / `uvx PKG`: pinned, fetched before the first start, said when slow

Imports clients, settings, store, schemas and the top-level modules."""
