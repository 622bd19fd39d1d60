#!/bin/sh
# Alertmanager reads receivers' credentials from files (routing_key_file, api_url_file,
# smtp_auth_password_file). Write each TRADEWIRE_AM_SECRET_<NAME> environment variable
# to <dir>/<name in lower case>, readable by this user only, then run Alertmanager with
# the arguments given. Used as the container's entrypoint and by `tradewire stack up`.
set -eu
dir="${TRADEWIRE_AM_SECRETS_DIR:-/run/alertmanager-secrets}"
mkdir -p "$dir"
umask 077
for name in $(env | sed -n 's/^TRADEWIRE_AM_SECRET_\([A-Z0-9_]*\)=.*/\1/p'); do
    eval "value=\${TRADEWIRE_AM_SECRET_$name}"
    printf '%s' "$value" > "$dir/$(echo "$name" | tr 'A-Z' 'a-z')"
done
exec "${ALERTMANAGER_BIN:-/bin/alertmanager}" "$@"
