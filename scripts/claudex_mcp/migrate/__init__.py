"""migrate: the servers clients already define become registry servers, and back.

    read        the clients' files found and parsed into server entries, an entry into a definition
    plan        what a migration would do (read only): names, conflicts, skipped entries, files
    apply       the plan carried out: backup set, servers, each file's entries pointed at the launcher
    backup      the backup set a migration makes first, and the rollback that undoes it

Imports install, runtime, clients, settings, store, schemas and the top-level modules."""
