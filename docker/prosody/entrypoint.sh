#!/bin/sh
# Entrypoint of the stack's Prosody image (docker/prosody/Dockerfile), as
# root: the component secret to the prosody user, a self-signed certificate
# and the users alice and bob (random passwords, kept in the data volume) on
# first start; then Prosody in the foreground as prosody.
set -eu
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
for user in alice bob; do
    f="$DATA/demo/$user.password"
    if [ ! -s "$f" ]; then
        (umask 077 && openssl rand -hex 8 >"$f")
    fi
    # Registering again only sets the same password: safe on every start.
    setpriv --reuid=prosody --regid=prosody --init-groups -- \
        prosodyctl --config "$CONFIG" register "$user" "$HOST" "$(cat "$f")" >/dev/null
done

cat <<BANNER
================================================================================
 Stoa compose stack: Prosody for "$HOST", rooms on "$DOMAIN"
   Users  alice@$HOST  password: $(cat "$DATA/demo/alice.password")
          bob@$HOST    password: $(cat "$DATA/demo/bob.password")   (the desk's moderator)
   Clients: the port compose publishes for 5222 (STOA_C2S_PORT, 15222);
   the browser: http://127.0.0.1:STOA_WEB_PORT/ (18080), see docs/compose.md
================================================================================
BANNER

export HOME="$DATA"
drop_to prosody prosody --config "$CONFIG" -F
