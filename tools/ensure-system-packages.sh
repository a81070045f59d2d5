#!/usr/bin/env bash
# Installs what the tests need from Debian's packages when it is missing: mosquitto and its
# clients (the tests start a real broker from the files the program renders, and consume from
# it), libmbedtls-dev and gcc (the tests build an OpenDTU-like client against mbedTLS 2.28, the
# TLS library of OpenDTU's firmware), jq (the influx node's scripts use it), Node.js and npm
# (the tests type-check every Flux query with Flux's own front end, compiled to WebAssembly),
# systemd's own unit parser (systemd-analyze verify reads every unit the stack installs),
# OpenSSH's server, sudo and iproute2 (make ssh and make logs reach real sshd's, one per node, on
# the nodes' addresses in a network namespace of their own),
# python3-apt (apt's own parser reads the unattended-upgrades configuration the nodes get),
# debootstrap (the Pi installer's test runs it in fresh Debian roots) and openssl (its strict
# certificate checks are Python 3.13's).
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
[ -e /usr/include/mbedtls/ssl.h ] || missing+=(libmbedtls-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
/usr/bin/python3 -c 'import apt_pkg' >/dev/null 2>&1 || missing+=(python3-apt)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing from Debian's packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
