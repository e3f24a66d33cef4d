"""claudex mcp: discover, install, configure and run MCP servers for Claudex."""

__version__ = "0.1.0"
