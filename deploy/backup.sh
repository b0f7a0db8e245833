#!/usr/bin/env bash
# Backs up what docs/operations.md ("What to back up") lists: InfluxDB, then the service's
# DATA_DIR (state.db and telemetry.db by SQLite's online backup, the journal, the dead letters),
# into a new directory with a MANIFEST (what, when, versions, and each file's size and SHA-256)
# that deploy/restore.sh checks before it puts anything back. The service keeps running.
#
# With Docker Compose (the default), run it from anywhere on the server: the commands run in the
# containers through `docker compose exec -T` (`run --rm --no-deps` when the service is stopped).
# --local backs up a service running on this machine (systemd, or a test).
set -euo pipefail
PROG=backup.sh
# shellcheck source=deploy/backup-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"

usage() {
  cat <<EOF
usage: deploy/backup.sh [--local] [options] TARGET_DIR

Writes a backup into TARGET_DIR (new, or empty): service/ (state.db, telemetry.db when the
embedded store is used, journal/, dead-letters/), influx/ (the InfluxDB backup) and MANIFEST.

  --sqlite HOW         how to copy SQLite online: cli (sqlite3 .backup), node (better-sqlite3's
                       backup(), what the service's image has), auto (cli when there, default)
$COMMON_OPTIONS_HELP

Exit codes: 0 done; 1 a step failed (said above); 2 usage; 3 TARGET_DIR not empty;
4 a tool is missing or Docker Compose is too old; 5 a copy failed its integrity check.
EOF
}

sqlite_method=${BACKUP_SQLITE:-auto}
target=
while [ $# -gt 0 ]; do
  common_option "$@"
  if [ "$taken" -gt 0 ]; then
    shift "$taken"
    continue
  fi
  case $1 in
    -h | --help) usage; exit 0 ;;
    --sqlite)
      [ $# -ge 2 ] || die "$EXIT_USAGE" "--sqlite needs a value"
      sqlite_method=$2
      shift 2
      ;;
    -*) usage >&2; die "$EXIT_USAGE" "unknown option $1" ;;
    *)
      [ -z "$target" ] || die "$EXIT_USAGE" "one TARGET_DIR only"
      target=$1
      shift
      ;;
  esac
done
[ -n "$target" ] || { usage >&2; exit "$EXIT_USAGE"; }
case $sqlite_method in auto | cli | node) ;; *) die "$EXIT_USAGE" "--sqlite must be auto, cli or node" ;; esac

# Never mix two backups in one directory: restore.sh would take files of both.
if [ -e "$target" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
  die "$EXIT_REFUSED" "$target is not empty: give a new directory (for example /backup/boreholes-\$(date +%F))"
fi
mkdir -p "$target/service" "$target/influx"
target="$(cd "$target" && pwd)"

settle_options

in_service test -f "$data_dir/state.db" || die "$EXIT_FAILED" "no state.db in $data_dir: is that the service's DATA_DIR?"
if [ "$sqlite_method" = auto ]; then
  if in_service sh -c 'command -v sqlite3 >/dev/null'; then sqlite_method=cli; else sqlite_method=node; fi
fi

# Staging directories where the commands run (in a container they are in its /tmp), removed on exit.
service_stage=
influx_stage=
cleanup() {
  [ -z "$service_stage" ] || in_service rm -rf "$service_stage" || true
  [ -z "$influx_stage" ] || in_influx rm -rf "$influx_stage" || true
}
trap cleanup EXIT

# Copies a directory of the runner (container or here) into one of ours.
fetch_dir() { # runner source-dir destination-dir
  "$1" tar -C "$2" -cf - . | tar -C "$3" -xf -
}

# --- 1. InfluxDB, first: the journal copied after it holds what InfluxDB had not confirmed yet.
influx_version=
case $influx_kind in
  2)
    set_influx2_flags
    influx_stage=$(in_influx mktemp -d /tmp/borehole-backup.XXXXXX)
    say "InfluxDB 2.x: influx backup"
    in_influx influx backup "${influx2_flags[@]}" "$influx_stage" >&2 || die "$EXIT_FAILED" "influx backup failed (an operator token is needed: the all-access token of the set-up is one)"
    fetch_dir in_influx "$influx_stage" "$target/influx"
    ;;
  1)
    influx_stage=$(in_influx mktemp -d /tmp/borehole-backup.XXXXXX)
    say "InfluxDB 1.x: influxd backup -portable -db $influx_db from $influx_rpc"
    in_influx influxd backup -portable -host "$influx_rpc" -db "$influx_db" "$influx_stage" >&2 ||
      die "$EXIT_FAILED" "influxd backup failed: is influxd's bind-address $influx_rpc (--influx-rpc)?"
    fetch_dir in_influx "$influx_stage" "$target/influx"
    ;;
  none) rmdir "$target/influx" ;;
esac
if [ "$influx_kind" != none ]; then
  influx_version=$(influx_server_version)
  [ -n "$influx_version" ] || influx_version=$(in_influx influxd version 2>/dev/null | head -n 1 || true)
fi

# --- 2. SQLite, by its online backup: a consistent copy while the service writes.
# better-sqlite3's backup() for images without the sqlite3 CLI (the service's has node only).
# Prints "<sqlite version> <user_version>" of the copy, after its integrity check.
# shellcheck disable=SC2016 # JavaScript, not shell
NODE_SQLITE_BACKUP='
const Database = require(require.resolve("better-sqlite3", { paths: [process.cwd()] }));
const [src, dst] = process.argv.slice(1);
const db = new Database(src, { fileMustExist: true });
db.backup(dst).then(() => {
  db.close();
  // Read-write: closing the last connection then folds in and removes the -wal and -shm of the copy.
  const copy = new Database(dst);
  const check = copy.pragma("integrity_check", { simple: true });
  const line = copy.prepare("select sqlite_version() as v").get().v + " " + copy.pragma("user_version", { simple: true });
  copy.close();
  if (check !== "ok") { console.error("integrity_check: " + check); process.exit(5); }
  console.log(line);
}, (error) => { console.error(error.message); process.exit(1); });
'
sqlite_copy() { # source destination
  if [ "$sqlite_method" = cli ]; then
    case $2 in *"'"*) die "$EXIT_USAGE" "a path with a quote cannot be given to sqlite3: $2" ;; esac
    in_service sqlite3 "$1" ".backup '$2'" || return 1
    local out
    out=$(in_service sqlite3 "$2" 'PRAGMA integrity_check;' 'SELECT sqlite_version();' 'PRAGMA user_version;') || return 1
    [ "$(echo "$out" | head -n 1)" = ok ] || { say "integrity_check of $2: $out"; return 5; }
    echo "$out" | tail -n 2 | tr '\n' ' ' | sed 's/ $//'
    echo
  else
    in_service node -e "$NODE_SQLITE_BACKUP" "$1" "$2"
  fi
}

service_stage=$(in_service mktemp -d /tmp/borehole-backup.XXXXXX)
sqlite_version=
state_schema=
for file in "${SQLITE_FILES[@]}"; do
  in_service test -f "$data_dir/$file" || continue
  say "$file: online backup ($sqlite_method)"
  status=0
  info=$(sqlite_copy "$data_dir/$file" "$service_stage/$file") || status=$?
  [ "$status" = 0 ] || die "$([ "$status" = 5 ] && echo "$EXIT_DAMAGED" || echo "$EXIT_FAILED")" "the copy of $file failed"
  sqlite_version=${info% *}
  [ "$file" != state.db ] || state_schema=${info#* }
done
fetch_dir in_service "$service_stage" "$target/service"

# --- 3. The journal and the dead letters, copied as they are. A journal segment being written
# may end in a torn record, which the next start cuts off (docs/operations.md); tar's "file
# changed as we read it" (its exit status 1) is that case and is accepted.
dirs=()
for dir in "${DATA_DIRS[@]}"; do in_service test -d "$data_dir/$dir" && dirs+=("$dir"); done
if [ "${#dirs[@]}" -gt 0 ]; then
  say "copying ${dirs[*]}"
  set +e
  in_service tar --warning=no-file-changed --warning=no-file-removed --ignore-failed-read -C "$data_dir" -cf - "${dirs[@]}" | tar -C "$target/service" -xf -
  statuses=("${PIPESTATUS[@]}")
  set -e
  if [ "${statuses[0]}" -gt 1 ] || [ "${statuses[1]}" != 0 ]; then die "$EXIT_FAILED" "copying ${dirs[*]} failed (tar: ${statuses[*]})"; fi
fi

# --- 4. The manifest: what, when, versions, and every file's size and SHA-256.
service_version=$(in_service node -p 'require("./package.json").version' 2>/dev/null || echo unknown)
{
  echo "# deploy/backup.sh: a borehole-monitor backup. deploy/restore.sh checks every file= line."
  echo "format=1"
  echo "created_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host=$(hostname)"
  echo "mode=$mode"
  echo "service_version=$service_version"
  echo "sqlite_version=$sqlite_version"
  echo "sqlite_method=$sqlite_method"
  echo "state_db_schema=$state_schema"
  echo "influx=$influx_kind"
  echo "influx_version=$influx_version"
  [ "$influx_kind" != 1 ] || echo "influx_database=$influx_db"
  echo "contents=$( (cd "$target" && { find service -mindepth 1 -maxdepth 1 -printf 'service/%f\n' | LC_ALL=C sort; [ ! -d influx ] || echo influx; }) | tr '\n' ' ' | sed 's/ $//')"
  parts=(service)
  [ ! -d "$target/influx" ] || parts+=(influx)
  (cd "$target" && find "${parts[@]}" -type f | LC_ALL=C sort | while IFS= read -r file; do
    echo "file=$(stat -c %s "$file") $(sha256sum "$file" | cut -d' ' -f1) $file"
  done)
} >"$target/MANIFEST.tmp"
files=$(grep -c '^file=' "$target/MANIFEST.tmp" || true)
bytes=$(sed -n 's/^file=\([0-9]*\) .*/\1/p' "$target/MANIFEST.tmp" | awk '{ s += $1 } END { print s + 0 }')
{ echo "files=$files"; echo "bytes=$bytes"; } >>"$target/MANIFEST.tmp"
mv "$target/MANIFEST.tmp" "$target/MANIFEST"

say "done: $target ($files files, $bytes bytes). Copy it off this server; it holds phone numbers."
