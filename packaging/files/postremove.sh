#!/bin/sh
# spillway-forwarder post-remove (deb: "remove", "purge" or "upgrade"; rpm: $1 =
# 0 on erase, 1 on upgrade). Reloads systemd; on an rpm upgrade, restarts the
# service with the new binary. The spillway user and /var/lib/spillway-forwarder
# (which may hold a buffer not shipped yet) are kept, also on purge.
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$1" = 1 ]; then
        systemctl try-restart spillway-forwarder.service >/dev/null 2>&1 || true
    fi
fi
if [ "$1" = purge ]; then
    echo "spillway-forwarder: kept /var/lib/spillway-forwarder (buffer not shipped yet?) and the spillway user; remove them by hand"
fi
exit 0
