#!/usr/bin/env bash
# Debian packages the tests use besides the services: ipmitool (reads the IPMI simulator, proving
# it speaks real IPMI), snmp (snmpget reads the PDU simulator, proving it speaks real SNMP).
# Installed only when missing.
set -euo pipefail
missing=()
command -v ipmitool >/dev/null || missing+=(ipmitool)
command -v snmpget >/dev/null || missing+=(snmp)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { echo "system-packages: install ${missing[*]} by hand" >&2; exit 1; }
echo "system-packages: installing ${missing[*]}"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
