#!/usr/bin/env bash
# fetchpool against curl, aria2, wget2 and xargs+curl, on this machine, in one run.
#
#   bash benches/compare.sh                      # every scenario, 5 runs each, J=8
#   RUNS=3 SCENARIOS="latency large" bash benches/compare.sh
#
# Installs what it needs from Debian packages when missing, builds fetchpool in release mode,
# starts nginx by hand on 127.0.0.1 with its own config under a temp dir, generates the corpora
# there, and stops everything on exit. Results go to BENCHMARKS.md (and stdout).
# Only 127.0.0.1 is ever contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null || need+=(nginx-light)
[ -e /usr/share/nginx/modules/ngx_http_echo_module.so ] || need+=(libnginx-mod-http-echo)
command -v aria2c >/dev/null || need+=(aria2)
command -v wget2 >/dev/null || need+=(wget2)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --locked --quiet
exec python3 benches/compare.py "$@"
