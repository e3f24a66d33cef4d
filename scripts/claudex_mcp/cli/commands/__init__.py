"""One module per verb of `claudex mcp`; each has a docstring summary and main(argv) -> int."""
