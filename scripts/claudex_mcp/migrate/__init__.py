"""migrate: the servers clients already define become registry servers, and back.

    migration   the servers found in the clients' files adopted, each entry pointed at the launcher
    backup      the backup set a migration makes first, and the rollback that undoes it

Imports install, runtime, clients, settings, store, schemas and the top-level modules."""
