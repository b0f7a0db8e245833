#!/usr/bin/env bash
# Puts back a backup made by deploy/backup.sh, as docs/operations.md ("How to restore") says:
# checks every file against the MANIFEST first, refuses while the service runs, restores InfluxDB
# (2.x `influx restore --full`, 1.x `influxd restore -portable`), then puts state.db (and
# telemetry.db), the journal and the dead letters into DATA_DIR. What it replaces is moved aside
# into DATA_DIR/replaced-by-restore-<time>/, never deleted.
#
# With Docker Compose (the default) the commands run in the containers: InfluxDB must be running
# (`docker compose up -d influxdb`), the service stopped (`docker compose stop service`).
# --local restores a service of this machine (systemd, or a test).
set -euo pipefail
PROG=restore.sh
# shellcheck source=deploy/backup-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"

usage() {
  cat <<EOF
usage: deploy/restore.sh [--local] [options] BACKUP_DIR

Restores BACKUP_DIR (made by deploy/backup.sh) into InfluxDB and the service's DATA_DIR.
The service must be stopped; InfluxDB must be running, with no data of its own to keep: 2.x
--full replaces everything it holds (users and tokens too: the backup's), 1.x refuses a
database that exists already.

  --force              restore even though the service looks running (it would overwrite the
                       restored state.db with its own on the next write: stop it instead)
  --no-influx          leave InfluxDB alone (restore the service's data only)
  --no-journal         leave the journal empty instead of putting back the backup's (step 5 of
                       docs/operations.md: replaying it is safe, so the default is to put it back)
$COMMON_OPTIONS_HELP

Exit codes: 0 done; 1 a step failed (said above); 2 usage, or not a backup; 3 refused: the
service is running; 4 a tool is missing or Docker Compose is too old; 5 the backup is damaged
or incomplete (a file's size or SHA-256 differs from the MANIFEST), nothing was changed.
EOF
}

force=false
restore_influx=true
restore_journal=true
backup=
while [ $# -gt 0 ]; do
  common_option "$@"
  if [ "$taken" -gt 0 ]; then
    shift "$taken"
    continue
  fi
  case $1 in
    -h | --help) usage; exit 0 ;;
    --force) force=true; shift ;;
    --no-influx) restore_influx=false; shift ;;
    --no-journal) restore_journal=false; shift ;;
    -*) usage >&2; die "$EXIT_USAGE" "unknown option $1" ;;
    *)
      [ -z "$backup" ] || die "$EXIT_USAGE" "one BACKUP_DIR only"
      backup=$1
      shift
      ;;
  esac
done
[ -n "$backup" ] || { usage >&2; exit "$EXIT_USAGE"; }
[ -f "$backup/MANIFEST" ] || die "$EXIT_USAGE" "$backup has no MANIFEST: not a backup made by deploy/backup.sh"
backup="$(cd "$backup" && pwd)"
manifest="$backup/MANIFEST"
field() { sed -n "s/^$1=//p" "$manifest" | head -n 1; }
[ "$(field format)" = 1 ] || die "$EXIT_USAGE" "MANIFEST format $(field format) is not one this script knows (1)"

# --- 1. Every file as the backup wrote it, before anything is touched.
say "checking $(field files) files against the MANIFEST of $(field created_at)"
bad=0
while IFS=' ' read -r size sum path; do
  file="$backup/$path"
  if [ ! -f "$file" ]; then
    say "missing: $path"
    bad=$((bad + 1))
  elif [ "$(stat -c %s "$file")" != "$size" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
    say "changed since the backup: $path"
    bad=$((bad + 1))
  fi
done < <(sed -n 's/^file=//p' "$manifest")
[ "$(sed -n 's/^file=//p' "$manifest" | wc -l)" = "$(field files)" ] || { say "the MANIFEST is cut short"; bad=$((bad + 1)); }
[ "$bad" = 0 ] || die "$EXIT_DAMAGED" "$bad problem(s): this backup cannot be trusted; nothing was changed"

# The backup says which InfluxDB it holds; an explicit --influx must agree.
backup_kind=$(field influx)
[ -z "$influx_kind" ] || [ "$influx_kind" = "$backup_kind" ] || [ "$restore_influx" = false ] ||
  die "$EXIT_USAGE" "the backup holds InfluxDB $backup_kind, not $influx_kind"
if [ "$restore_influx" = true ]; then influx_kind=$backup_kind; else influx_kind=none; fi
settle_options

# --- 2. Not over a running service: it holds state.db open and would write over what comes back.
# Compose: the container's state. Here: a process with a file of DATA_DIR open (Linux /proc).
holder_of_data() {
  local real found
  real=$(cd "$data_dir" 2>/dev/null && pwd -P) || return 1
  # One find over every process's open files (readlink per descriptor would fork thousands of times).
  found=$(find /proc/[0-9]*/fd -maxdepth 1 \( -lname "$real/state.db*" -o -lname "$real/telemetry.db*" -o -lname "$real/journal/*" \) -print -quit 2>/dev/null || true)
  [ -n "$found" ] || return 1
  found=${found#/proc/}
  echo "${found%%/*}"
}
if [ "$mode" = compose ]; then
  if service_container_running; then
    [ "$force" = true ] || die "$EXIT_REFUSED" "the service is running: docker compose stop service, then run this again (or --force)"
    say "the service is running; going on because of --force"
  fi
elif pid=$(holder_of_data); then
  [ "$force" = true ] || die "$EXIT_REFUSED" "process $pid has files of $data_dir open: stop the service, then run this again (or --force)"
  say "process $pid has files of $data_dir open; going on because of --force"
fi

influx_stage=
cleanup() { [ -z "$influx_stage" ] || in_influx rm -rf "$influx_stage" || true; }
trap cleanup EXIT

# --- 3. InfluxDB (step 4 of docs/operations.md).
if [ "$influx_kind" != none ]; then
  [ -d "$backup/influx" ] || die "$EXIT_DAMAGED" "the MANIFEST says InfluxDB $influx_kind but there is no influx/ directory"
  influx_stage=$(in_influx mktemp -d /tmp/borehole-restore.XXXXXX)
  tar -C "$backup/influx" -cf - . | in_influx tar -C "$influx_stage" -xf -
  if [ "$influx_kind" = 2 ]; then
    set_influx2_flags
    say "InfluxDB 2.x: influx restore --full"
    in_influx influx restore --full "${influx2_flags[@]}" "$influx_stage" >&2 ||
      die "$EXIT_FAILED" "influx restore failed: InfluxDB must be running, and the token an operator token"
  else
    db=$(field influx_database)
    say "InfluxDB 1.x: influxd restore -portable -db $db to $influx_rpc"
    in_influx influxd restore -portable -host "$influx_rpc" -db "$db" "$influx_stage" >&2 ||
      die "$EXIT_FAILED" "influxd restore failed: influxd must be running with its bind-address at $influx_rpc (--influx-rpc), and database $db must not exist yet (DROP DATABASE \"$db\" if it holds nothing to keep)"
  fi
fi

# --- 4. The service's data (steps 3 and 5): moved aside, then replaced, in one step in DATA_DIR.
# Runs where the data is (as root in the container, to give the files to its user "node").
# shellcheck disable=SC2016 # expanded by the shell that runs it, not this one
PLACE='set -eu
d=$1 stamp=$2 owner=$3
mkdir -p "$d"
new="$d/.restoring-$stamp" old="$d/replaced-by-restore-$stamp"
mkdir "$new" "$old"
tar -C "$new" -xf -
for f in state.db state.db-wal state.db-shm telemetry.db telemetry.db-wal telemetry.db-shm journal dead-letters; do
  if [ -e "$d/$f" ]; then mv "$d/$f" "$old/"; fi
done
for f in "$new"/*; do if [ -e "$f" ]; then mv "$f" "$d/"; fi; done
rmdir "$new"
if rmdir "$old" 2>/dev/null; then echo; else echo "$old"; fi
if [ -n "$owner" ]; then chown -R "$owner" "$d"; fi'
items=()
for item in "${SQLITE_FILES[@]}" "${DATA_DIRS[@]}"; do
  [ -e "$backup/service/$item" ] || continue
  [ "$item" != journal ] || [ "$restore_journal" = true ] || continue
  items+=("$item")
done
[ -f "$backup/service/state.db" ] || die "$EXIT_DAMAGED" "the backup has no service/state.db"
owner=
[ "$mode" != compose ] || owner=node:node
stamp=$(date -u +%Y%m%dT%H%M%SZ)
say "putting back ${items[*]} into $data_dir"
replaced=$(tar -C "$backup/service" -cf - "${items[@]}" | in_service_as_root sh -c "$PLACE" sh "$data_dir" "$stamp" "$owner") ||
  die "$EXIT_FAILED" "putting the files into $data_dir failed"
[ -z "$replaced" ] || say "what was there before is in $replaced (delete it once the service runs well)"

say "done: backup of $(field created_at) (service $(field service_version)) restored."
if [ "$mode" = compose ]; then
  say "next: docker compose up -d service, then curl http://127.0.0.1:8080/readyz (200) and watch ingest_readings_total rise"
else
  say "next: start the service, then check GET /readyz (200) and that ingest_readings_total rises"
fi
