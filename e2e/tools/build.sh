#!/usr/bin/env bash
# Builds the Kubernetes binaries pinned by e2e/tools/go.mod (all, or the commands given as
# arguments) into a cache outside git, keyed by version, skipping those already built.
# Prints the cache directory as its last line.
set -euo pipefail

cd "$(dirname "$0")"
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' go.mod)
if [[ -z "$version" ]]; then
	echo "e2e-tools: no k8s.io/kubernetes version in e2e/tools/go.mod" >&2
	exit 1
fi
dir=${INFERSCALE_K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/inferscale/k8s/$version}
mkdir -p "$dir"

minor=${version#v1.}
minor=${minor%%.*}
# Without these the binaries report v0.0.0-master, which kubectl and the node status then show.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"

commands=("$@")
if [[ ${#commands[@]} -eq 0 ]]; then
	commands=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
fi
for cmd in "${commands[@]}"; do
	if [[ -x "$dir/$cmd" ]]; then
		echo "e2e-tools: $cmd $version already built"
		continue
	fi
	echo "e2e-tools: building $cmd $version (cold: minutes) ..."
	start=$SECONDS
	# Build into a temp name and rename, so an interrupted build never leaves a truncated binary
	# that a later run would take as built.
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
	mv "$dir/.$cmd.tmp" "$dir/$cmd"
	echo "e2e-tools: built $cmd in $((SECONDS - start))s"
done
echo "$dir"
