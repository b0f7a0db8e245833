#!/bin/sh
# Entry point of the mosquitto service in docker-compose.yml, in front of the image's own.
#
# The password file and the ACL are bind-mounted read-only from deploy/mosquitto/, owned by
# whoever ran make-passwords.sh on the host. Mosquitto reads them after dropping to its own user
# (uid 1883), and since 2.0.16 warns about files it does not own or that others can read (later
# versions refuse them). So they are copied here, as root, to where mosquitto.conf expects them:
# owned by mosquitto, mode 0600. Run at every start, so `docker compose restart mosquitto` picks
# up a new password file.
set -eu

src=/etc/mosquitto-deploy

if [ ! -s "$src/passwd" ]; then
  echo "mosquitto: $src/passwd is missing or empty." >&2
  echo "Create it on the host with deploy/mosquitto/make-passwords.sh (see docs/deploy.md)." >&2
  exit 1
fi

install -o mosquitto -g mosquitto -m 0600 "$src/passwd" /mosquitto/config/passwd
install -o mosquitto -g mosquitto -m 0600 "$src/acl" /mosquitto/config/acl
install -o mosquitto -g mosquitto -m 0644 "$src/mosquitto.conf" /mosquitto/config/mosquitto.conf

# The image's entry point gives /mosquitto to the mosquitto user, then runs the command.
exec /docker-entrypoint.sh "$@"
