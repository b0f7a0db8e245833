#!/bin/bash
# InfluxQL for the service and Grafana: maps database "<bucket>", retention policy "autogen", to
# the bucket, as the database's default retention policy.
#
# The influxdb image runs this once, when it initialises an empty volume, right after creating
# the org, the bucket and the admin token (DOCKER_INFLUXDB_INIT_*), with the influx CLI already
# logged in. InfluxDB 2.x also answers through a "virtual" mapping of the bucket's name, but an
# explicit one survives a bucket rename and shows up in `influx v1 dbrp list` for whoever looks.
# Safe to run again by hand: docker compose exec influxdb /docker-entrypoint-initdb.d/10-dbrp.sh
set -euo pipefail

org="${DOCKER_INFLUXDB_INIT_ORG:?the influxdb container sets DOCKER_INFLUXDB_INIT_ORG}"
bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?the influxdb container sets DOCKER_INFLUXDB_INIT_BUCKET}"
rp=autogen

bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}"
if [ -z "$bucket_id" ]; then
  bucket_id="$(influx bucket list --org "$org" --name "$bucket" --hide-headers | awk 'NR == 1 { print $1 }')"
fi
if [ -z "$bucket_id" ]; then
  echo "dbrp: no bucket $bucket in org $org" >&2
  exit 1
fi

if output="$(influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" --db "$bucket" --rp "$rp" --default 2>&1)"; then
  echo "dbrp: InfluxQL database $bucket, retention policy $rp, now maps to bucket $bucket ($bucket_id)"
  exit 0
fi

# InfluxDB refuses a second mapping of the same database and retention policy: already done.
if grep -qi 'exists' <<<"$output" &&
  influx v1 dbrp list --org "$org" --db "$bucket" --rp "$rp" --hide-headers | grep -q -- "$bucket_id"; then
  echo "dbrp: InfluxQL database $bucket, retention policy $rp, already maps to bucket $bucket ($bucket_id)"
  exit 0
fi

echo "dbrp: could not map InfluxQL database $bucket to bucket $bucket: $output" >&2
exit 1
