#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian machine of this kind
# (Mosquitto, InfluxDB and Chromium from apt, the npm packages), then runs the linter, the type
# check and every test (unit and integration against real servers, pages in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
# mosquitto_pub: the embedded broker is tested with a client that is not ours (embedded-broker.test.ts).
have mosquitto_pub || missing+=(mosquitto-clients)
have influxd || missing+=(influxdb)
# The pages are tested in a real browser (tests/integration/pages.test.ts): Debian's Chromium,
# with a font so that its screenshots show text.
have chromium || missing+=(chromium fonts-dejavu-core)
# promtool (Debian's prometheus package) checks the shipped alerting rules and /metrics
# (tests/unit/deploy/prometheus*.test.ts); LibreOffice reads the CSV downloads back as ministry
# staff open them (tests/integration/csv-spreadsheets.test.ts).
have promtool || missing+=(prometheus)
have soffice || missing+=(libreoffice-calc)
# Caddy validates and runs the TLS profile's Caddyfile (tests/unit/deploy/caddy.test.ts, tests/integration/caddy-tls.test.ts).
have caddy || missing+=(caddy)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "!!! ${missing[*]} missing and cannot be installed here (needs root and apt-get); integration tests will say what they skip" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "--- lint"; npx eslint .
echo "--- type check"; npx tsc -p tsconfig.json
echo "--- tests"; npx vitest run "$@"
# The whole run (no arguments): the unit and fuzz suites on Node.js 24 as well. NODE_EXTRA=0
# skips it on a developer's machine; CI always runs it.
if [ "$#" -eq 0 ] && { [ "${CI:-}" = true ] || [ "${NODE_EXTRA:-1}" != 0 ]; }; then
  bash scripts/test-node.sh 24
fi
