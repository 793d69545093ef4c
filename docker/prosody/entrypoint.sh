#!/bin/sh
# Entrypoint of the demo Prosody image (docker/prosody/Dockerfile).
# Does on first start what scripts/demo does: a self-signed certificate for
# the host and the component, and the users alice and bob with random
# passwords; later starts reuse them. Then runs Prosody in the foreground.
set -eu

HOST=localhost
DOMAIN=rooms.localhost
DATA=/var/lib/prosody
CONFIG=/etc/prosody/prosody.cfg.lua

mkdir -p "$DATA/certs" "$DATA/demo"
if [ ! -s "$DATA/certs/$HOST.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
        -addext "subjectAltName=DNS:$HOST,DNS:$DOMAIN" \
        -keyout "$DATA/certs/$HOST.key" -out "$DATA/certs/$HOST.crt" 2>/dev/null
    chmod 600 "$DATA/certs/$HOST.key"
fi

for user in alice bob; do
    f="$DATA/demo/$user.password"
    if [ ! -s "$f" ]; then
        (umask 077 && openssl rand -hex 8 >"$f")
    fi
    # Registering again only sets the same password: safe on every start.
    prosodyctl --config "$CONFIG" register "$user" "$HOST" "$(cat "$f")" >/dev/null
done

cat <<BANNER
================================================================================
 Stoa compose demo: Prosody for "$HOST", rooms on "$DOMAIN"
   Connect a client to 127.0.0.1 port 15222 (the port compose publishes)
   Users  alice@$HOST  password: $(cat "$DATA/demo/alice.password")
          bob@$HOST    password: $(cat "$DATA/demo/bob.password")
================================================================================
BANNER

exec prosody --config "$CONFIG" -F
