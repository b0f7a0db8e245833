#!/usr/bin/env bash
# Checks that this server's Docker Compose is at least the version docker-compose.yml states in
# x-minimum-compose-version. Compose itself cannot refuse a file on its own version, and an older
# one fails on a newer feature with a message about that feature, or worse runs without it; this
# says what to upgrade instead. docs/deploy.md runs it first; backup.sh and restore.sh run it too.
#
# Exit codes: 0 new enough; 4 Docker Compose missing or too old; 2 the compose file states no
# minimum. Environment: COMPOSE (default "docker compose"), COMPOSE_FILE (default the project's).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file=${COMPOSE_FILE:-$root/docker-compose.yml}
read -r -a compose <<<"${COMPOSE:-docker compose}"

minimum=$(sed -n 's/^x-minimum-compose-version:[[:space:]]*["'"'"']\{0,1\}\([0-9][0-9.]*\)["'"'"']\{0,1\}[[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$file" | head -n 1)
if [ -z "$minimum" ]; then
  echo "check-compose: $file states no x-minimum-compose-version" >&2
  exit 2
fi

if ! found=$("${compose[@]}" version --short 2>/dev/null); then
  echo "check-compose: '${compose[*]} version' does not answer: install Docker Compose $minimum or newer (the docker-compose-plugin package)" >&2
  exit 4
fi
found=${found#v}
found=${found%%[!0-9.]*}

# sort -V puts the smaller first: the minimum must come first (or be equal).
if [ "$(printf '%s\n%s\n' "$minimum" "$found" | sort -V | head -n 1)" != "$minimum" ]; then
  echo "check-compose: Docker Compose $found is older than $minimum, which docker-compose.yml needs: upgrade the docker-compose-plugin package" >&2
  exit 4
fi
echo "check-compose: Docker Compose $found (at least $minimum): ok"
