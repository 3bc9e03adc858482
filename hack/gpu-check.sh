#!/usr/bin/env bash
# gpu-check.sh: run the inferscale agent against this machine's real NVML, without Kubernetes,
# and print what it reads next to nvidia-smi's view: idle, under a small load when a load tool
# is installed, and reading one named device only (--gpu-devices, as with PodResources).
# Needs Go, a C compiler (the agent links go-nvml through cgo), an NVIDIA driver and
# nvidia-smi. Takes well under five minutes. Usage: hack/gpu-check.sh [seconds-of-load]
set -euo pipefail

load_seconds=${1:-20}
cd "$(dirname "$0")/.."
out=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT

command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi on PATH: no NVIDIA driver here" >&2; exit 1; }
echo "== machine"
nvidia-smi --query-gpu=index,name,uuid,driver_version,mig.mode.current --format=csv,noheader
nvidia-smi -L | grep -i mig || true

echo "== build"
CGO_ENABLED=1 go build -o "$out/inferscale-agent" ./cmd/inferscale-agent

# The agent needs a model port to front; a closed one only makes /readyz fail.
admin=19090
run_agent() { # name, extra flags...
	local name=$1
	shift
	"$out/inferscale-agent" --listen-port=19080 --admin-port=$admin --upstream-port=19081 \
		--report-interval=1s --pod-resources-socket="$out/absent.sock" "$@" >"$out/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		curl -fsS "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "gpu-check: the agent did not start:" >&2
	cat "$out/$name.log" >&2
	exit 1
}
stop_agent() {
	kill "${pids[-1]}" 2>/dev/null || true
	wait "${pids[-1]}" 2>/dev/null || true
	unset 'pids[-1]'
}

# compare prints, per device the agent reads, its gauges beside nvidia-smi's columns.
compare() {
	sleep 3 # two report intervals: GPM needs two samples
	curl -fsS "http://127.0.0.1:$admin/metrics" | grep '^inferscale_agent_gpu_' >"$out/agent.txt" || true
	nvidia-smi --query-gpu=uuid,utilization.gpu,memory.used,memory.total,power.draw,power.limit,clocks.sm,clocks.max.sm \
		--format=csv,noheader,nounits >"$out/smi.txt"
	if [ ! -s "$out/agent.txt" ]; then
		echo "agent reports no GPU; its log:"
		cat "$out/$1.log"
		return
	fi
	awk -F', ' '
		FNR == NR { util[$1] = $2; used[$1] = $3; total[$1] = $4; power[$1] = $5; limit[$1] = $6; clock[$1] = $7; maxclock[$1] = $8; next }
		{
			n = split($0, f, " ")
			match($0, /[{,]uuid="[^"]*"/); uuid = substr($0, RSTART + 7, RLENGTH - 8)
			name = f[1]; sub(/\{.*/, "", name); sub(/^inferscale_agent_gpu_/, "", name)
			if (name == "info") {
				match($0, /attribution="[^"]*"/); extra[uuid] = extra[uuid] " attribution " substr($0, RSTART + 13, RLENGTH - 14)
				match($0, /mig="[^"]*"/); extra[uuid] = extra[uuid] " mig " substr($0, RSTART + 5, RLENGTH - 6)
				next
			}
			if (name == "clock_event_reason") {
				match($0, /reason="[^"]*"/); reasons[uuid] = reasons[uuid] " " substr($0, RSTART + 8, RLENGTH - 9)
				next
			}
			v[uuid, name] = f[n]; seen[uuid] = 1
		}
		END {
			for (u in seen) {
				mib = 1048576
				printf "device %s%s\n", u, extra[u]
				printf "  %-22s %14s %14s\n", "reading", "agent", "nvidia-smi"
				printf "  %-22s %14s %14s\n", "utilization %", v[u, "utilization_percent"], util[u]
				printf "  %-22s %14.0f %14s\n", "memory used MiB", v[u, "memory_used_bytes"] / mib, used[u]
				printf "  %-22s %14.0f %14s\n", "memory total MiB", v[u, "memory_total_bytes"] / mib, total[u]
				printf "  %-22s %14s %14s\n", "power W", v[u, "power_watts"], power[u]
				printf "  %-22s %14s %14s\n", "power limit W", v[u, "power_limit_watts"], limit[u]
				printf "  %-22s %14s %14s\n", "SM clock MHz", v[u, "sm_clock_mhz"], clock[u]
				printf "  %-22s %14s %14s\n", "SM clock max MHz", v[u, "sm_clock_max_mhz"], maxclock[u]
				printf "  %-22s %14s %14s\n", "SM activity % (GPM)", v[u, "sm_activity_percent"], "-"
				printf "  %-22s %14s %14s\n", "SM occupancy % (GPM)", v[u, "sm_occupancy_percent"], "-"
				printf "  %-22s %14s %14s\n", "tensor activity % (GPM)", v[u, "tensor_activity_percent"], "-"
				printf "  agent clock event reasons:%s\n", reasons[u]
			}
		}' "$out/smi.txt" "$out/agent.txt"
	nvidia-smi --query-gpu=uuid,clocks_event_reasons.active --format=csv,noheader 2>/dev/null | sed 's/^/  nvidia-smi clock event reasons: /' || true
}

# load starts a small GPU load with the first tool found; it prints what it runs.
load() {
	local secs=$1
	if command -v gpu-burn >/dev/null; then
		echo "load: gpu-burn $secs"
		gpu-burn "$secs" >"$out/load.log" 2>&1 &
	elif command -v dcgmproftester12 >/dev/null; then
		echo "load: dcgmproftester12 (tensor activity) for $secs s"
		dcgmproftester12 --no-dcgm-validation -t 1004 -d "$secs" >"$out/load.log" 2>&1 &
	elif python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		echo "load: a torch matmul loop on GPU 0 for $secs s"
		python3 - "$secs" >"$out/load.log" 2>&1 <<'PY' &
import sys, time, torch
end = time.time() + float(sys.argv[1])
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
while time.time() < end:
    a = (a @ a).clamp_(-1, 1)
torch.cuda.synchronize()
PY
	else
		echo "load: no gpu-burn, dcgmproftester12 or torch with CUDA here: the readings stay idle"
		return 1
	fi
	pids+=($!)
	sleep 5 # let the load ramp up
}

echo "== every device NVML shows (no Kubernetes: attribution Unattributed), idle"
run_agent all
compare all
if load "$load_seconds"; then
	echo "== under load"
	compare all
fi
stop_agent
grep -h '"GPU reporting' "$out/all.log" || true

first=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
if mig=$(nvidia-smi -L | grep -o 'MIG-[0-9a-f-]*' | head -1) && [ -n "$mig" ]; then
	first=$mig
fi
echo "== only $first (--gpu-devices, as the PodResources lookup names it)"
run_agent one --gpu-devices="$first"
compare one
stop_agent
