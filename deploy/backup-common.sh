# Sourced by deploy/backup.sh and deploy/restore.sh: their options, and where their commands run.
#
# Every command that touches the service's data or InfluxDB goes through in_service or in_influx.
# With Docker Compose (the default) those are `docker compose exec -T <container> …` (or `run
# --rm --no-deps` for a stopped service), with files streamed in and out as tar on stdin/stdout,
# so nothing but Docker and bash is needed on the server. With --local they run the same commands
# on this machine against DATA_DIR and the InfluxDB named by the options: a service under systemd,
# and the test (tests/integration/backup-restore.test.ts) that runs these very scripts.
# shellcheck shell=bash disable=SC2034 # the variables here are read by the scripts that source it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Exit codes, the same for both scripts (their usage says them).
readonly EXIT_FAILED=1 EXIT_USAGE=2 EXIT_REFUSED=3 EXIT_MISSING=4 EXIT_DAMAGED=5

say() { echo "$PROG: $*" >&2; }
die() {
  local code=$1
  shift
  say "$*"
  exit "$code"
}

# Defaults from the environment the service itself reads (DATA_DIR, INFLUX_URL, INFLUX_TOKEN,
# INFLUX_BUCKET), so that `set -a; . /etc/boreholes.env; set +a` is enough for --local.
mode=compose
data_dir=
influx_kind=${BACKUP_INFLUX:-}
influx_url=${INFLUX_URL:-}
influx_token=${INFLUX_TOKEN:-}
influx_db=${INFLUX_BUCKET:-boreholes}
influx_rpc=${INFLUX_BACKUP_ADDRESS:-127.0.0.1:8088}
read -r -a compose_cmd <<<"${COMPOSE:-docker compose}"

# shellcheck disable=SC2016 # $DATA_DIR and the like are shown, not expanded
COMMON_OPTIONS_HELP='  --local              this machine, not Docker Compose: DATA_DIR and INFLUX_* name the data
  --data-dir DIR       the service'"'"'s DATA_DIR (--local; default $DATA_DIR)
  --influx KIND        2 (influx backup/restore), 1 (influxd -portable), none (embedded store,
                       telemetry.db). Compose: 2. --local: read from INFLUX_URL'"'"'s /ping, none if unset
  --influx-url URL     2.x: the server (default $INFLUX_URL)
  --influx-token T     2.x: an operator token (default $INFLUX_TOKEN; Compose: the CLI'"'"'s own config)
  --influx-db NAME     1.x: the database (default $INFLUX_BUCKET, else boreholes)
  --influx-rpc H:P     1.x: influxd'"'"'s backup address, its bind-address (default 127.0.0.1:8088)
Environment: COMPOSE (default "docker compose"), and the defaults named above.'

# Parses one common option; sets taken to how many arguments it took (0: not one of them).
taken=0
common_option() {
  taken=0
  case $1 in
    --local) mode=local; taken=1 ;;
    --data-dir | --influx | --influx-url | --influx-token | --influx-db | --influx-rpc)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "$1 needs a value"
      case $1 in
        --data-dir) data_dir=$2 ;;
        --influx) influx_kind=$2 ;;
        --influx-url) influx_url=$2 ;;
        --influx-token) influx_token=$2 ;;
        --influx-db) influx_db=$2 ;;
        --influx-rpc) influx_rpc=$2 ;;
      esac
      taken=2
      ;;
  esac
}

# After the options: fills in what the mode implies and checks that the tools are there.
settle_options() {
  if [ "$mode" = compose ]; then
    # The service's environment in docker-compose.yml: DATA_DIR=/data, InfluxDB 2.x, and the influx
    # CLI inside its container configured with the admin token at set-up.
    data_dir=/data
    influx_kind=${influx_kind:-2}
    influx_url=
    influx_token=
    "$ROOT/deploy/check-compose.sh" >&2 || exit "$EXIT_MISSING"
  else
    data_dir=${data_dir:-${DATA_DIR:-}}
    [ -n "$data_dir" ] || die "$EXIT_USAGE" "--local needs --data-dir DIR (or DATA_DIR)"
    case $data_dir in /*) ;; *) data_dir="$(pwd)/$data_dir" ;; esac
    if [ -z "$influx_kind" ]; then
      if [ -z "$influx_url" ]; then
        influx_kind=none
      else
        case "$(influx_server_version)" in
          1.*) influx_kind=1 ;;
          2.* | v2.*) influx_kind=2 ;;
          '') die "$EXIT_FAILED" "InfluxDB at $influx_url does not answer /ping: start it, or say --influx" ;;
          *) die "$EXIT_USAGE" "InfluxDB at $influx_url is neither 1.x nor 2.x: say --influx" ;;
        esac
      fi
    fi
  fi
  case $influx_kind in
    2) need_in_influx influx "the influx CLI (2.x)" ;;
    1) need_in_influx influxd "influxd (1.x)" ;;
    none) ;;
    *) die "$EXIT_USAGE" "--influx must be 2, 1 or none, not $influx_kind" ;;
  esac
}

need_in_influx() {
  in_influx sh -c "command -v $1 >/dev/null" || die "$EXIT_MISSING" "$2 not found$([ "$mode" = compose ] && echo ' in the influxdb container')"
}

# The server's version from the X-Influxdb-Version header of /ping (empty when it does not answer).
influx_server_version() {
  [ -n "$influx_url" ] || return 0
  curl -fsS -o /dev/null -D - --max-time 5 "$influx_url/ping" 2>/dev/null | tr -d '\r' | sed -n 's/^[Xx]-[Ii]nflux[Dd][Bb]-[Vv]ersion: *//p' || true
}

service_container_running() {
  [ -n "$("${compose_cmd[@]}" ps --status running --quiet service 2>/dev/null)" ]
}

# Runs a command where the service's data is: in its container (a one-off one when it is stopped),
# or here, from the project's directory (where node finds better-sqlite3 and package.json, as in
# the image's /app).
in_service() {
  if [ "$mode" = compose ]; then
    if service_container_running; then
      "${compose_cmd[@]}" exec -T service "$@"
    else
      "${compose_cmd[@]}" run --rm --no-deps -T service "$@"
    fi
  else
    (cd "$ROOT" && "$@")
  fi
}

# The same as root, to give restored files back to the image's unprivileged user (Compose only:
# here the files keep the owner of whoever runs the script).
in_service_as_root() {
  if [ "$mode" = compose ]; then
    if service_container_running; then
      "${compose_cmd[@]}" exec -T --user root service "$@"
    else
      "${compose_cmd[@]}" run --rm --no-deps -T --user root service "$@"
    fi
  else
    (cd "$ROOT" && "$@")
  fi
}

# Runs a command where the InfluxDB tools are: in the influxdb container, or here.
in_influx() {
  if [ "$mode" = compose ]; then
    "${compose_cmd[@]}" exec -T influxdb "$@"
  else
    "$@"
  fi
}

# Connection flags of the 2.x CLI: none with Compose (its config in /etc/influxdb2 has them).
influx2_flags=()
set_influx2_flags() {
  influx2_flags=()
  [ -n "$influx_url" ] && influx2_flags+=(--host "$influx_url")
  [ -n "$influx_token" ] && influx2_flags+=(--token "$influx_token")
  return 0
}

# The files of DATA_DIR a backup holds and a restore replaces.
readonly SQLITE_FILES=(state.db telemetry.db)
readonly DATA_DIRS=(journal dead-letters)
