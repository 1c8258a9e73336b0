#!/usr/bin/env bash
# Makes deployment names under *.localhost (the default `<id>.local.citadel.localhost` a Cloud
# ID names) resolve to loopback on this machine: Debian's libnss-myhostname answers every
# *.localhost name with ::1 and 127.0.0.1 through NSS, which the official clients (and
# everything using getaddrinfo) consult. Its postinst adds `myhostname` to the hosts line of
# /etc/nsswitch.conf; this adds it too if missing (right after `files`), and is idempotent.
# docs/operations.md, "How deployment names resolve".
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! dpkg-query -W -f='${Status}' libnss-myhostname 2>/dev/null | grep -q 'ok installed'; then
  echo "== installing libnss-myhostname (deployment names under *.localhost resolve to loopback)"
  apt-get update -qq
  apt-get install -y -qq libnss-myhostname >/dev/null
fi
if ! grep -qE '^hosts:.*[[:space:]]myhostname([[:space:]]|$)' /etc/nsswitch.conf; then
  if grep -qE '^hosts:.*[[:space:]]files([[:space:]]|$)' /etc/nsswitch.conf; then
    sed -i -E 's/^(hosts:.*[[:space:]]files)([[:space:]]|$)/\1 myhostname\2/' /etc/nsswitch.conf
  else
    sed -i -E 's/^(hosts:.*)$/\1 myhostname/' /etc/nsswitch.conf
  fi
fi
getent hosts citadel-name-check.local.citadel.localhost >/dev/null \
  || echo "warning: *.localhost names still do not resolve (see /etc/nsswitch.conf, hosts:)" >&2
