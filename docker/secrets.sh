# Sourced by the images' entrypoints (docker/*/entrypoint.sh), which start as
# root: compose mounts each secret as /run/secrets/NAME with the host file's
# owner and mode, which the service's own user often cannot read (and should
# not have to: the host file stays 0600). take_secret copies one to
# /run/stoa-secrets/NAME, readable by USER alone, before the entrypoint drops
# to USER; it prints the copy's path.
take_secret() {
    name=$1
    user=$2
    src=/run/secrets/$name
    if [ ! -s "$src" ]; then
        echo "entrypoint: secret $name is missing or empty ($src): run docker/make-secrets" >&2
        exit 1
    fi
    install -d -m 0711 /run/stoa-secrets
    install -m 0400 -o "$user" -g "$user" "$src" "/run/stoa-secrets/$name"
    echo "/run/stoa-secrets/$name"
}

# Runs the rest as USER: no capabilities left, no way back to root.
drop_to() {
    user=$1
    shift
    exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all -- "$@"
}

# The demo users' passwords, made once and kept in DIR (the data volume).
demo_passwords() {
    for user in alice bob; do
        [ -s "$1/$user.password" ] || (umask 077 && openssl rand -hex 8 >"$1/$user.password")
    done
}

# banner SERVER HOST DOMAIN DIR: what a person needs from the log.
banner() {
    cat <<BANNER
================================================================================
 Stoa compose stack: $1 for "$2", rooms on "$3"
   Users  alice@$2  password: $(cat "$4/alice.password")
          bob@$2    password: $(cat "$4/bob.password")   (the desk's moderator)
   Clients: the port compose publishes for 5222 (STOA_C2S_PORT, 15222);
   the browser: http://127.0.0.1:STOA_WEB_PORT/ (18080), see docs/compose.md
================================================================================
BANNER
}
