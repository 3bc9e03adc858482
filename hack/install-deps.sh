#!/usr/bin/env bash
# The Debian packages the local e2e cluster and the build need, in one list: `make demo`,
# `make test` and .ci/run all run this. Installs the missing ones as root on Debian (saying
# which); otherwise fails with the exact command to run.
#
# etcd and containerd are run by the e2e harness with its own configuration; the packages only
# provide the binaries. runc, the CNI plugins, iptables, conntrack and iproute2 serve the node;
# make, gcc and libc6-dev build the project (the agent needs cgo).
set -euo pipefail

packages=(etcd-server containerd runc containernetworking-plugins iptables conntrack iproute2 make gcc libc6-dev)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
	echo "install-deps: not a Debian system (no dpkg-query/apt-get): install the equivalents of these Debian packages: ${packages[*]}" >&2
	exit 1
fi
missing=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing Debian packages: ${missing[*]}" >&2
	echo "install-deps: run as root: apt-get update && ${install[*]}" >&2
	exit 1
fi

echo "install-deps: installing the missing Debian packages: ${missing[*]}"
apt-get update -q
# Keep the packages' services from starting: a system etcd or containerd would run beside the
# harness's own and outlive the run.
policy=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	added_policy=true
fi
trap '$added_policy && rm -f "$policy"' EXIT
DEBIAN_FRONTEND=noninteractive "${install[@]}"
echo "install-deps: installed ${missing[*]}"
