"""install: servers coming in, changing and going.

    sources     where a server comes from (a folder, a git repository), fetched without running it
    deps        a server's dependencies in its own folder (uv venv, npm)
    vendor      shared packages (../lib/<dist>) vendored into the staged server
    suite       a server's own test suite, with its test dependencies
    lifecycle   install, uninstall, upgrade, enable, disable, each inside the one mutation path
    adopt       a server a client defines, adopted as a registry server
    scaffold    a new server folder from a copier template

Imports runtime, clients, settings, store, schemas and the top-level modules."""
