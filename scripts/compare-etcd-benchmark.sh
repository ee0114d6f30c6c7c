#!/usr/bin/env bash
# Interleaved throughput comparison of `etcd-monitor benchmark` with etcd's
# own tools/benchmark, as recorded in docs/performance-benchmark.md.
#
#   scripts/compare-etcd-benchmark.sh ENDPOINT SPEC... > runs.log
#   python3 scripts/compare-summary.py runs.log
#
# SPEC is WORKLOAD:CONNSxCLIENTS:REQUESTS:PAIRS with WORKLOAD put or range,
# e.g. put:1x1:4000:31 range:10x100:20000:11.
#
# Each pair runs both tools with the same parameters, in A B B A order (etcd,
# ours; ours, etcd; ...) so that neither always runs first after the other.
# Every run prints one line: workload, shape, requests, tool, the tool's own
# Requests/sec, and /usr/bin/time's wall, user, system seconds and peak RSS.
#
# Settings, from the environment:
#   ETCD_BENCHMARK  etcd's tool, built from etcd's repository with
#                   `go build ./tools/benchmark` (default: benchmark on PATH)
#   ETCD_MONITOR    ours (default: ./bin/etcd-monitor)
#
# `range` reads one key, /cmp-range/00000000, which must exist (etcdctl put
# /cmp-range/00000000 x); ours reads its own key (--key-space-size=1). Ours
# writes below /cmp/ and deletes what it wrote; etcd's tool leaves its 1000
# keys (8 bytes each) behind: use a scratch cluster.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 ENDPOINT WORKLOAD:CONNSxCLIENTS:REQUESTS:PAIRS..." >&2
	exit 2
fi
endpoint=$1
shift
etcd_tool=${ETCD_BENCHMARK:-benchmark}
ours=${ETCD_MONITOR:-./bin/etcd-monitor}
for bin in "$etcd_tool" "$ours" /usr/bin/time; do
	if ! command -v "$bin" >/dev/null; then
		echo "$0: $bin not found" >&2
		exit 2
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run TOOL WORKLOAD CONNS CLIENTS REQUESTS
run() {
	local tool=$1 workload=$2 conns=$3 clients=$4 total=$5
	local -a cmd
	if [ "$tool" = etcd ]; then
		cmd=("$etcd_tool" --endpoints="$endpoint" --conns="$conns" --clients="$clients")
		if [ "$workload" = put ]; then
			cmd+=(put --total="$total" --key-size=8 --val-size=8 --key-space-size=1000)
		else
			cmd+=(range /cmp-range/00000000 --total="$total" --consistency=l)
		fi
	else
		cmd=("$ours" benchmark --log.level=warn --etcd.endpoints="$endpoint" --conns="$conns" --clients="$clients"
			--total="$total" --key-prefix=/cmp/)
		if [ "$workload" = put ]; then
			cmd+=(--workload=write --key-size=8 --val-size=8 --key-space-size=1000)
		else
			cmd+=(--workload=read --key-space-size=1 --consistency=l)
		fi
	fi
	/usr/bin/time -o "$tmp/time" -f "%e %U %S %M" "${cmd[@]}" >"$tmp/out" 2>/dev/null || true
	local rps
	rps=$(awk '/Requests\/sec/ {print $2; exit}' "$tmp/out")
	echo "$workload ${conns}x$clients $total $tool rps=${rps:-failed} time=$(tr ' ' , <"$tmp/time") load=$(cut -d' ' -f1 /proc/loadavg)"
}

for spec in "$@"; do
	IFS=: read -r workload shape total pairs <<<"$spec"
	conns=${shape%x*}
	clients=${shape#*x}
	for i in $(seq 1 "$pairs"); do
		if [ $((i % 2)) = 1 ]; then
			run etcd "$workload" "$conns" "$clients" "$total"
			run ours "$workload" "$conns" "$clients" "$total"
		else
			run ours "$workload" "$conns" "$clients" "$total"
			run etcd "$workload" "$conns" "$clients" "$total"
		fi
	done
done
