"""store: the registry on disk and the one way it changes.

    lock        the registry lock and per-file locks (flock, fcntl)
    staging     the staging area: every change is built there, committed by a rename
    mutation    the one mutation path: lock, recover, stage, commit or roll back, record, invalidate
    registry    registry.json and the registry's folders
    index       scanning the folders into the index of every server
    cache       the index kept in the cache folder while the registry is unchanged

Imports schemas and the top-level modules. Knows nothing of config layers or clients: what must
follow a commit (regenerating the clients' files) is done by the layer that called it."""
