"""catalog: servers found in an MCP Registry (the official one, or a company's subregistry),
searched offline and installed pinned, with where they came from recorded and checked.

    feeds       the catalogs configured (catalog.url, CLAUDEX_MCP_CATALOG_URL) and how old a copy may be
    client      the registry's HTTP API (v0.1): pages of servers, one server's versions
    index       the local copy of each catalog (state folder), synced page by page, incrementally
    ranking     BM25 over the copy's names, titles and descriptions
    serverjson  a server.json validated against the vendored schema, and mapped to a server folder
    installer   install and upgrade of a catalog server, through install's one mutation path
    provenance  each installed server's content digest against its install record (verify)

Imports install, runtime, clients, settings, store, schemas and the top-level modules."""
