# The Makefile holds no logic: it makes the venv, then forwards to the invoke tasks in tasks.py.
PYTHON ?= python3
VENV := .venv
INV := $(VENV)/bin/inv
STAMP := $(VENV)/.installed
MCP_VERBS := init validate list cache config generate run

.PHONY: install test run bench docs clean $(addprefix mcp-,$(MCP_VERBS))

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(VENV)/bin/python -m compileall -q scripts/claudex_mcp
	touch $(STAMP)

test: $(STAMP)
	$(INV) test

run: $(STAMP)
	$(INV) run

bench: $(STAMP)
	$(INV) bench

docs: $(STAMP)
	$(INV) docs

# make mcp-<verb> ARGS="..." runs `claudex mcp <verb> ...`
$(addprefix mcp-,$(MCP_VERBS)): mcp-%: $(STAMP)
	$(INV) mcp.$* --args "$(ARGS)"

clean:
	rm -rf $(VENV) .tools build
