#!/bin/sh
# Entrypoint of the stack's ejabberd image, as root: the component secret as
# the macro STOA_COMPONENT_SECRET in a file only ejabberd reads (the mounted
# ejabberd.yml includes it), a self-signed certificate and the users alice
# and bob on first start (random passwords, kept in the data volume); then
# ejabberd in the foreground as ejabberd.
set -eu
# shellcheck disable=SC1091 # the image's copy of docker/secrets.sh
. /usr/local/lib/stoa-secrets.sh

HOST=${STOA_HOST:-localhost}
DOMAIN=${STOA_DOMAIN:-rooms.localhost}
DATA=/var/lib/ejabberd

secret=$(take_secret stoa_component_secret ejabberd)
(umask 077 && printf 'define_macro:\n  STOA_COMPONENT_SECRET: "%s"\n' "$(cat "$secret")" \
    >/run/stoa-secrets/ejabberd-secrets.yml)
chown ejabberd:ejabberd /run/stoa-secrets/ejabberd-secrets.yml
install -d -o ejabberd -g ejabberd -m 0750 "$DATA" "$DATA/certs" "$DATA/demo"
if [ ! -s "$DATA/certs/$HOST.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
        -addext "subjectAltName=DNS:$HOST,DNS:$DOMAIN" \
        -keyout "$DATA/certs/key.tmp" -out "$DATA/certs/crt.tmp" 2>/dev/null
    cat "$DATA/certs/key.tmp" "$DATA/certs/crt.tmp" >"$DATA/certs/$HOST.pem"
    rm -f "$DATA/certs/key.tmp" "$DATA/certs/crt.tmp"
    chown ejabberd:ejabberd "$DATA/certs/$HOST.pem"
    chmod 600 "$DATA/certs/$HOST.pem"
fi
demo_passwords "$DATA/demo"

as_ejabberd() {
    setpriv --reuid=ejabberd --regid=ejabberd --init-groups -- env HOME="$DATA" "$@"
}
as_ejabberd ejabberdctl foreground &
pid=$!
trap 'as_ejabberd ejabberdctl stop >/dev/null 2>&1 || kill -TERM "$pid"' TERM INT
i=0
until as_ejabberd ejabberdctl status >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 120 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "entrypoint: ejabberd did not start" >&2
        exit 1
    fi
    sleep 1
done
for user in alice bob; do
    as_ejabberd ejabberdctl register "$user" "$HOST" "$(cat "$DATA/demo/$user.password")" \
        >/dev/null 2>&1 || true # "already registered" on later starts
done
banner ejabberd "$HOST" "$DOMAIN" "$DATA/demo"
# A signal interrupts wait: go on waiting until ejabberd has stopped.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
done
