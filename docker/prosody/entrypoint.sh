#!/bin/sh
# Entrypoint of the stack's Prosody image (docker/prosody/Dockerfile), as
# root: the component secret to the prosody user, a self-signed certificate
# and the users alice and bob (random passwords, kept in the data volume) on
# first start; then Prosody in the foreground as prosody.
set -eu
# shellcheck disable=SC1091 # the image's copy of docker/secrets.sh
. /usr/local/lib/stoa-secrets.sh

HOST=${STOA_HOST:-localhost}
DOMAIN=${STOA_DOMAIN:-rooms.localhost}
DATA=/var/lib/prosody
CONFIG=/etc/prosody/prosody.cfg.lua

take_secret stoa_component_secret prosody >/dev/null
install -d -o prosody -g prosody -m 0750 "$DATA" "$DATA/certs" "$DATA/demo"
if [ ! -s "$DATA/certs/$HOST.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
        -addext "subjectAltName=DNS:$HOST,DNS:$DOMAIN" \
        -keyout "$DATA/certs/$HOST.key" -out "$DATA/certs/$HOST.crt" 2>/dev/null
    chown prosody:prosody "$DATA/certs/$HOST.key" "$DATA/certs/$HOST.crt"
    chmod 600 "$DATA/certs/$HOST.key"
fi
demo_passwords "$DATA/demo"
for user in alice bob; do
    # Registering again only sets the same password: safe on every start.
    setpriv --reuid=prosody --regid=prosody --init-groups -- \
        prosodyctl --config "$CONFIG" register "$user" "$HOST" "$(cat "$DATA/demo/$user.password")" \
        >/dev/null
done
banner Prosody "$HOST" "$DOMAIN" "$DATA/demo"

export HOME="$DATA"
drop_to prosody prosody --config "$CONFIG" -F
