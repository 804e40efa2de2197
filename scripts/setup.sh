#!/usr/bin/env bash
# One-time machine setup, idempotent: only does what this machine still lacks.
# TorchSharp 0.107's native library needs libstdc++ with GLIBCXX_3.4.32 (GCC 13+). Debian 12 ships GCC 12's,
# so we take libstdc++6 from Debian 13 (trixie) by deriving a sources file from the existing one.
# ALISA_SETUP_REDIS=1 also installs redis-server, ALISA_SETUP_HELM=1 unpacks helm v4 (scripts/fetch-helm.sh): the tests need both.
set -euo pipefail
source "$(dirname "$0")/help.sh"
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# awk reads all of ldconfig's output: leaving early would kill ldconfig with SIGPIPE, which pipefail makes fatal
libstdcxx=$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !found {print $NF; found = 1}')
if ! grep -qa 'GLIBCXX_3\.4\.32' "${libstdcxx:-/usr/lib/x86_64-linux-gnu/libstdc++.so.6}"; then
  echo "setup: libstdc++ lacks GLIBCXX_3.4.32 (needed by TorchSharp); installing Debian 13's libstdc++6" >&2
  src=/etc/apt/sources.list.d/debian.sources
  dst=/etc/apt/sources.list.d/debian-trixie.sources
  if [ ! -f "$dst" ]; then
    sed -e 's/bookworm-security/trixie-security/; s/bookworm-updates/trixie-updates/; s/\bbookworm\b/trixie/' "$src" \
      | sudo_if_needed tee "$dst" >/dev/null
    # keep bookworm the default for everything else
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | sudo_if_needed tee /etc/apt/preferences.d/trixie-low >/dev/null
  fi
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq -t trixie libstdc++6 >/dev/null
fi

if [ "${ALISA_SETUP_REDIS:-0}" = 1 ] && ! command -v redis-server >/dev/null; then
  echo "setup: installing redis-server" >&2
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq redis-server >/dev/null
fi

if [ "${ALISA_SETUP_HELM:-0}" = 1 ]; then
  echo "setup: helm for the chart tests: $(bash "$(dirname "$0")/fetch-helm.sh")" >&2
fi
