#!/bin/sh
# Entrypoint of the stack's Redis image, as root: the password from the
# compose secret into a file only the redis user reads (redis.conf includes
# it), then redis-server as redis.
set -eu
# shellcheck disable=SC1091 # the image's copy of docker/secrets.sh
. /usr/local/lib/stoa-secrets.sh
pw=$(take_secret stoa_redis_password redis)
(umask 077 && printf 'requirepass "%s"\n' "$(cat "$pw")" >/run/stoa-secrets/redis-auth.conf)
chown redis:redis /run/stoa-secrets/redis-auth.conf
chown redis:redis /data
drop_to redis redis-server /etc/stoa/redis.conf
