#!/usr/bin/env bash
# Builds the broker's password file, deploy/mosquitto/passwd, for docker-compose.yml.
#
# Accounts (deploy/mosquitto/acl says what each may do):
#   ingest_service  the service; password MQTT_SERVICE_PASSWORD (required)
#   demo_simulator  the demo profile's simulator; only if MQTT_SIMULATOR_PASSWORD is set
#   <borehole id>   one per device, from the devices file: lines "id:password"
#
# Passwords come from the environment, else from the .env file. The devices file holds the
# devices' passwords in clear, because the installer types them into each device: keep it off
# shared drives (it is created readable by its owner only and is ignored by git). The password
# file holds salted hashes only. The broker reads it at start: `docker compose restart mosquitto`.
#
# Needs mosquitto_passwd (Debian: apt-get install mosquitto), or Docker to borrow it from the
# broker's image.
set -euo pipefail

MOSQUITTO_IMAGE=eclipse-mosquitto:2.0.22
SERVICE_USER=ingest_service
SIMULATOR_USER=demo_simulator
# CONTRACT.md section 1: a borehole id. No underscore, so never one of the two accounts above.
ID_PATTERN='^[a-z0-9][a-z0-9-]{1,62}$'

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env_file="$here/../../.env"
devices_file="$here/devices.txt"
out="$here/passwd"
add=()

usage() {
  cat <<EOF
Usage: deploy/mosquitto/make-passwords.sh [options]

  --add <borehole-id>   give a new device a random password: appended to the devices file and
                        printed for the installer (repeatable)
  --devices <file>      devices file, lines "id:password" (default: deploy/mosquitto/devices.txt)
  --env-file <file>     where to read MQTT_SERVICE_PASSWORD and MQTT_SIMULATOR_PASSWORD when they
                        are not in the environment (default: .env at the project root)
  --out <file>          password file to write (default: deploy/mosquitto/passwd)
  -h, --help            this text

Then apply it: docker compose restart mosquitto
EOF
}

die() {
  echo "make-passwords: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --add) [ $# -ge 2 ] || die "--add needs a borehole id"; add+=("$2"); shift 2 ;;
    --devices) [ $# -ge 2 ] || die "--devices needs a file"; devices_file="$2"; shift 2 ;;
    --env-file) [ $# -ge 2 ] || die "--env-file needs a file"; env_file="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a file"; out="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

# A variable from the environment, else its last assignment in the env file, read the way Compose
# reads .env: quotes removed, and for an unquoted value a " #" comment.
env_value() {
  local name="$1" line value
  if [ -n "${!name:-}" ]; then
    printf '%s' "${!name}"
    return
  fi
  [ -f "$env_file" ] || return 0
  line="$(grep -E "^[[:space:]]*(export[[:space:]]+)?${name}=" "$env_file" | tail -n 1 || true)"
  [ -n "$line" ] || return 0
  value="${line#*=}"
  case "$value" in
    \"*\") value="${value#\"}"; value="${value%\"}" ;;
    \'*\') value="${value#\'}"; value="${value%\'}" ;;
    *) value="${value%%[[:space:]]#*}"; value="${value%"${value##*[![:space:]]}"}" ;;
  esac
  printf '%s' "$value"
}

random_password() {
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex 18
  else
    od -An -tx1 -N18 /dev/urandom | tr -d ' \n'
  fi
}

# Passwords end up in URLs (the simulator's --broker) and in device menus: hex is safe in both.
check_password() {
  local who="$1" password="$2"
  [ ${#password} -ge 12 ] || die "$who: the password must have at least 12 characters"
  case "$password" in
    *[[:space:]]* | *:*) die "$who: the password must not contain spaces or ':'" ;;
    replace-with*) die "$who: still the placeholder of the example; make one with: openssl rand -hex 18" ;;
  esac
}

umask 077

service_password="$(env_value MQTT_SERVICE_PASSWORD)"
[ -n "$service_password" ] || die "MQTT_SERVICE_PASSWORD is not set (in the environment or in $env_file)"
check_password MQTT_SERVICE_PASSWORD "$service_password"
simulator_password="$(env_value MQTT_SIMULATOR_PASSWORD)"
[ -z "$simulator_password" ] || check_password MQTT_SIMULATOR_PASSWORD "$simulator_password"

[ -f "$devices_file" ] || : >"$devices_file"
chmod go-rwx "$devices_file"
# Appending to a last line without its newline would glue two devices together.
if [ -s "$devices_file" ] && [ -n "$(tail -c 1 "$devices_file")" ]; then echo >>"$devices_file"; fi

for id in "${add[@]+"${add[@]}"}"; do
  [[ "$id" =~ $ID_PATTERN ]] || die "--add $id: not a borehole id (lower-case letters, digits and dashes, 2 to 63 characters)"
  if grep -q "^${id}:" "$devices_file"; then
    die "--add $id: already in $devices_file; delete its line first to give it a new password"
  fi
  password="$(random_password)"
  printf '%s:%s\n' "$id" "$password" >>"$devices_file"
  echo "new device $id: username $id, password $password"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
plain="$work/passwd"

printf '%s:%s\n' "$SERVICE_USER" "$service_password" >"$plain"
[ -z "$simulator_password" ] || printf '%s:%s\n' "$SIMULATOR_USER" "$simulator_password" >>"$plain"

devices=0
seen=" "
line_number=0
while IFS= read -r line || [ -n "$line" ]; do
  line_number=$((line_number + 1))
  line="${line%$'\r'}"
  case "$line" in '' | '#'*) continue ;; esac
  id="${line%%:*}"
  password="${line#*:}"
  where="$devices_file line $line_number"
  [ "$id" != "$line" ] || die "$where: expected id:password"
  [[ "$id" =~ $ID_PATTERN ]] || die "$where: \"$id\" is not a borehole id (lower-case letters, digits and dashes, 2 to 63 characters)"
  case "$seen" in *" $id "*) die "$where: $id is listed twice" ;; esac
  seen="$seen$id "
  check_password "$where" "$password"
  printf '%s:%s\n' "$id" "$password" >>"$plain"
  devices=$((devices + 1))
done <"$devices_file"

# mosquitto_passwd -U replaces each clear password with a salted hash, in place.
if command -v mosquitto_passwd >/dev/null 2>&1; then
  mosquitto_passwd -U "$plain"
elif command -v docker >/dev/null 2>&1; then
  docker run --rm --user "$(id -u):$(id -g)" -v "$work:/work" "$MOSQUITTO_IMAGE" mosquitto_passwd -U /work/passwd
else
  die "neither mosquitto_passwd nor docker is installed (Debian: apt-get install mosquitto)"
fi
if grep -q -F ":$service_password" "$plain"; then die "mosquitto_passwd left a password in clear"; fi

mkdir -p "$(dirname "$out")"
install -m 0600 "$plain" "$out"
echo "wrote $out: $SERVICE_USER${simulator_password:+, $SIMULATOR_USER}, $devices device(s) from $devices_file"
echo "apply it with: docker compose restart mosquitto"
