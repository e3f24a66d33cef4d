"""The command-line face of claudex mcp: argument parsing, output and exit codes."""
