#!/bin/sh
# spillway-forwarder post-install (deb: "configure [old-version]"; rpm: $1 = 1 on
# install, 2 on upgrade). Idempotent: creates the spillway system group and user
# when missing, lets the service read /etc/spillway, reloads systemd.
set -e

if ! getent group spillway >/dev/null 2>&1; then
    groupadd --system spillway
fi
if ! getent passwd spillway >/dev/null 2>&1; then
    useradd --system --gid spillway --no-create-home \
        --home-dir /var/lib/spillway-forwarder --shell /usr/sbin/nologin \
        --comment "Spillway forwarder" spillway
fi

# The configuration and key files are readable by root and the service only.
if [ -d /etc/spillway ]; then
    chown root:spillway /etc/spillway
    chmod 0750 /etc/spillway
fi

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # deb upgrade: run the new binary now (rpm restarts in the old package's postremove).
    if [ "$1" = configure ] && [ -n "$2" ]; then
        systemctl try-restart spillway-forwarder.service >/dev/null 2>&1 || true
    fi
fi

if [ "$1" = 1 ] || { [ "$1" = configure ] && [ -z "$2" ]; }; then
    echo "spillway-forwarder: write the API key to /etc/spillway/apikey (or edit /etc/spillway/forwarder.yaml), then: systemctl enable --now spillway-forwarder"
fi
exit 0
