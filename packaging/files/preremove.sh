#!/bin/sh
# spillway-forwarder pre-remove (deb: "remove" or "upgrade <new-version>"; rpm:
# $1 = 0 on erase, 1 on upgrade). On removal, stops and disables the service; on
# upgrade it keeps running and is restarted with the new binary.
set -e
case "$1" in
    remove|0)
        if [ -d /run/systemd/system ]; then
            systemctl stop spillway-forwarder.service >/dev/null 2>&1 || true
        fi
        systemctl disable spillway-forwarder.service >/dev/null 2>&1 || true
        ;;
esac
exit 0
