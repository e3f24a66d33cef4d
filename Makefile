# The Makefile holds no logic: scripts/bootstrap.py makes the venv, then it forwards to the invoke
# tasks in tasks.py.
PYTHON ?= python3
VENV := .venv
INV := $(VENV)/bin/inv
STAMP := $(VENV)/.installed
# The shipped (and example) servers' own requirements, their extras' too (requirements-chat.txt ...),
# go into the same venv, so their tests run in `make test`; `claudex mcp install` gives each
# installed server a venv of its own, with the extras asked for.
SERVER_REQUIREMENTS := $(wildcard mcp-servers/*/requirements*.txt mcp-servers/core/*/requirements*.txt \
                                 docs/mcp-examples/*/requirements*.txt)
SHARED_PACKAGES := $(wildcard mcp-servers/lib/*/pyproject.toml)
# The verbs: one module each in the dispatcher's commands folder (tasks.py reads the same folder).
MCP_VERBS := $(subst _,-,$(basename $(notdir $(wildcard scripts/claudex_mcp/cli/commands/[a-z]*.py))))

.PHONY: install test test-latest-clients run bench bench-check docs clean image image-test $(addprefix mcp-,$(MCP_VERBS))

install: $(STAMP)

# The venv, made by uv (fetched from PyPI first when missing), with claudex and its test
# dependencies; then the servers' requirements and the shared packages (mcp-servers/lib/*).
$(STAMP): pyproject.toml $(SERVER_REQUIREMENTS) $(SHARED_PACKAGES)
	$(PYTHON) scripts/bootstrap.py
	$(INV) install
	touch $(STAMP)

test: $(STAMP)
	$(INV) test

# The client integration tests against the pinned clients and the newest ones: what changed.
test-latest-clients: $(STAMP)
	$(INV) test-latest-clients

run: $(STAMP)
	$(INV) run

# make bench [QUICK=1]: QUICK=1 is CI's size (fewer runs, the servers' small corpora)
bench: $(STAMP)
	$(INV) bench $(if $(filter 1,$(QUICK)),--quick,)

bench-check: $(STAMP)
	$(INV) bench-check

docs: $(STAMP)
	$(INV) docs

# make image [BASE=debootstrap|IMAGE] [CLIS=0]: the Claudex image (Dockerfile)
image: $(STAMP)
	$(INV) image --base "$(BASE)" $(if $(filter 0,$(CLIS)),--no-clis,)

image-test: $(STAMP)
	$(INV) image-test

# make mcp-<verb> ARGS="..." runs `claudex mcp <verb> ...`
$(addprefix mcp-,$(MCP_VERBS)): mcp-%: $(STAMP)
	$(INV) mcp.$* --args "$(ARGS)"

clean:
	rm -rf $(VENV) .tools build
