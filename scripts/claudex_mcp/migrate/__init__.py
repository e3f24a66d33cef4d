"""migrate: the servers clients already define become registry servers, and back.

Imports every other wing but the CLI."""
