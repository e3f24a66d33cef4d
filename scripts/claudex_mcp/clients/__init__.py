"""clients: the MCP clients' files (Claude Code, Codex, Cursor, VS Code, Claude Desktop).

    renderers   an effective config in, each client's entries out (pure)
    codex_toml  Codex's config.toml: render and splice tables, every other byte kept
    jsonedit    editing one member of a JSON document in its text
    folders     the clients' per-folder project decisions and trust
    generate    writing a client's file: lock, backup, record of claudex's entries, atomic write
    regeneration  every client file again after a registry or config change
    watch       hot reload: regenerate when the registry or a layer changes (inotify)
    inotify     Linux inotify through ctypes

Imports settings, store, schemas and the top-level modules."""
