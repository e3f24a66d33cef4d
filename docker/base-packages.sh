#!/bin/sh
# What the image needs from the base's package manager and the base may lack: Python with venv,
# git, CA certificates, and Node with npm when the agent CLIs are in ($1 = 1). A python:*-slim
# base lacks git; the debootstrap base (claudex_testing.debian_base) has all but Node.
set -eu
need=""
python3 -c 'import venv, ensurepip' 2>/dev/null || need="python3 python3-venv"
command -v git >/dev/null || need="$need git"
[ -e /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"
if [ "${1:-1}" = 1 ]; then command -v npm >/dev/null || need="$need nodejs npm"; fi
if [ -n "$need" ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need
  rm -rf /var/lib/apt/lists/*
fi
