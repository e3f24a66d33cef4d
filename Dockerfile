# The Claudex image: Python with claudex, the core servers in core/, the shipped servers installed
# at build time in $CLAUDEX_MCP_REGISTRY, Node with the Claude Code and Codex CLIs, an `mcp` user.
#
#   make image                                   # BASE=python:3.12.8-slim-bookworm (needs Docker Hub)
#   make image BASE=debootstrap                  # no registry: a Debian base built with debootstrap
#   docker build --network host --build-arg WITH_AGENT_CLIS=0 .   # without the npm CLIs (tests)
#   docker build --build-arg SERVER_EXTRAS="codequery=chat,server" .  # shipped servers' extras too
#
# Hardened run (README "The image"): read-only root, no capabilities, no new privileges; the home
# on a volume or tmpfs; a named volume for the registry keeps servers installed at run time.
#   docker run --rm -it --read-only --cap-drop ALL --security-opt no-new-privileges \
#     --tmpfs /tmp --tmpfs /home/mcp:uid=10001,gid=10001,mode=700 \
#     -v claudex-mcp:/opt/mcp-servers -e CLAUDEX_MCP_WATCH=1 claudex
ARG BASE=python:3.12.8-slim-bookworm

# ---- build: everything that reaches PyPI and npm ----------------------------------------------
FROM ${BASE} AS build
ARG WITH_AGENT_CLIS=1
# The shipped servers are installed without their optional extras (codequery's cq_chat and Qdrant
# server client: 70 MB the agents, LLMs themselves, rarely need); NAME=EXTRA[,EXTRA] pairs,
# separated by spaces, install some (README, "The image").
ARG SERVER_EXTRAS=""
# 2.1.197 is the newest Claude Code that runs on Node 18 (Debian bookworm's); 2.1.198 needs Node 22.
ARG CLAUDE_CODE_VERSION=2.1.197
ARG CODEX_VERSION=0.171.0
ENV CLAUDEX_MCP_REGISTRY=/opt/mcp-servers \
    PATH=/opt/claudex/.venv/bin:$PATH \
    LANG=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY docker/base-packages.sh /usr/local/sbin/claudex-base-packages
RUN claudex-base-packages "$WITH_AGENT_CLIS"
# A TLS-intercepting proxy's CA (.build-ca.crt, written by `make image` from the host's
# /usr/local/share/ca-certificates): trusted in this stage only, never in the final image.
COPY docker/base-packages.sh .build-ca.cr[t] /tmp/build-ca/
RUN if [ -f /tmp/build-ca/.build-ca.crt ]; then cat /tmp/build-ca/.build-ca.crt >> /etc/ssl/certs/ca-certificates.crt; fi
# The CLIs in a prefix of their own: its bin/ links come along to the final stage.
RUN set -eu; mkdir -p /opt/agent-clis/bin; if [ "$WITH_AGENT_CLIS" = 1 ]; then \
      npm install -g --prefix /opt/agent-clis --no-audit --no-fund \
        "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_VERSION"; \
    fi
# claudex's dependencies first: this layer is reused while only the code changes.
COPY pyproject.toml /opt/claudex/
RUN python3 -m venv /opt/claudex/.venv && /opt/claudex/.venv/bin/python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('/opt/claudex/pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', *deps])"

COPY README.md copier.yml /opt/claudex/
COPY schemas /opt/claudex/schemas
COPY templates /opt/claudex/templates
COPY scripts /opt/claudex/scripts
COPY mcp-servers /opt/claudex/mcp-servers
# Installed in place (editable), as `make install` does: schemas, templates and the core servers
# are found beside the code. Then the registry: core servers by init, the shipped ones installed
# (each in its own venv). Everything in it belongs to root, folders 755, files 644, executables
# 755: the mcp user cannot edit a server's code. mcp owns the registry's own files and its
# installed/ and disabled/ folders, so it can install and remove servers at run time.
RUN set -eu; \
    pip install --quiet --no-deps -e /opt/claudex; \
    python -m compileall -q /opt/claudex/scripts; \
    claudex mcp init >/dev/null; \
    for manifest in /opt/claudex/mcp-servers/*/manifest.json; do \
      folder="${manifest%/manifest.json}"; with=""; \
      for pair in $SERVER_EXTRAS; do \
        if [ "${pair%%=*}" = "${folder##*/}" ]; then with="--with=${pair#*=}"; fi; \
      done; \
      claudex mcp install "$folder" $with >/dev/null; \
    done; \
    reg=$CLAUDEX_MCP_REGISTRY; \
    chown -R root:root /opt/claudex "$reg"; \
    find /opt/claudex "$reg" -type d -exec chmod 755 {} +; \
    find /opt/claudex "$reg" -type f -perm /111 -exec chmod 755 {} +; \
    find /opt/claudex "$reg" -type f ! -perm /111 -exec chmod 644 {} +; \
    touch "$reg/.lock"; mkdir -p "$reg/.staging"; chmod 644 "$reg/.lock"; \
    rm -rf /root/.cache /root/.local /root/.config /root/.claude.json /root/.mcp.json /root/.codex


# ---- the image: the base, the user, and what the build stage made ---------------------------
FROM ${BASE}
ARG WITH_AGENT_CLIS=1
ENV CLAUDEX_MCP_REGISTRY=/opt/mcp-servers \
    PATH=/opt/claudex/.venv/bin:/opt/agent-clis/bin:$PATH \
    LANG=C.UTF-8
COPY docker/base-packages.sh /usr/local/sbin/claudex-base-packages
RUN claudex-base-packages "$WITH_AGENT_CLIS" \
    && groupadd --gid 10001 mcp \
    && useradd --uid 10001 --gid mcp --create-home --home-dir /home/mcp --shell /bin/bash mcp
COPY --from=build /opt/agent-clis /opt/agent-clis
COPY --from=build /opt/claudex /opt/claudex
COPY --from=build /opt/mcp-servers /opt/mcp-servers
RUN set -eu; reg=$CLAUDEX_MCP_REGISTRY; \
    ln -s /opt/claudex/scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh; \
    chown mcp:mcp "$reg" "$reg/registry.json" "$reg/.lock" "$reg/.staging" "$reg/installed" "$reg/disabled"

USER mcp
WORKDIR /home/mcp
HEALTHCHECK --interval=60s --timeout=60s --start-period=30s --retries=3 \
    CMD claudex mcp status --json >/dev/null || exit 1
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["bash"]
