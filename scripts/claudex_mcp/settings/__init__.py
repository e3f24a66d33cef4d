"""settings: the layered configuration and what it makes of each server.

    config      the layers (Global -> Registry -> Project -> User), merged, explained, edited
    effective   the effective configuration of every server for one project
    project     which project is in effect

Imports store, schemas and the top-level modules."""
