#!/usr/bin/env bash
# Debian packages the dashboard tests drive for real: a headless browser with its WebDriver
# (tests/test_dashboard_browser.py) and the Prometheus server with promtool (tests/test_prometheus.py).
# Idempotent: when every binary is already there it returns at once, without touching apt.
set -euo pipefail

packages=(chromium chromium-driver prometheus)
binaries=(/usr/bin/chromium /usr/bin/chromedriver /usr/bin/prometheus /usr/bin/promtool)

missing=0
for binary in "${binaries[@]}"; do
    [[ -x "$binary" ]] || missing=1
done
if [[ $missing -eq 0 ]]; then
    echo "system deps present: ${packages[*]}"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "installing ${packages[*]} needs root (or sudo); run this script as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"

for binary in "${binaries[@]}"; do
    if [[ ! -x "$binary" ]]; then
        echo "apt-get finished but $binary is missing" >&2
        exit 1
    fi
done
echo "system deps installed: ${packages[*]}"
