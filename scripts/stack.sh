#!/usr/bin/env bash
# `make stack`: docker-compose.yml's topology without a container engine, on
# 127.0.0.1, from the binaries `make tools` installs in ./bin (or found on
# PATH):
#
#   etcd-monitor demo   a 3-member etcd cluster in-process, and the monitor
#   prometheus          scrapes the monitor, the members and the Pushgateway,
#                       loads rules/, sends to Alertmanager
#   alertmanager        alertmanager/alertmanager.yml, its webhook pointed at
#                       the monitor with a generated bearer token, secrets
#                       from deploy/secrets/
#   pushgateway         for `etcd-monitor benchmark --pushgateway.url=...`
#   grafana             only where a Grafana is installed (not on Debian)
#
# Everything runs in the foreground; Ctrl-C stops it all. Configuration and
# data go to a temporary directory, removed on exit (set STACK_DIR to keep
# them). Settings, from the environment:
#
#   STACK_RULES=default|fast   rule profile (fast: alerts within seconds)
#   STACK_MONITOR_PORT=9379  STACK_PROMETHEUS_PORT=9090
#   STACK_ALERTMANAGER_PORT=9093  STACK_PUSHGATEWAY_PORT=9091  STACK_GRAFANA_PORT=3000
#   STACK_DIR=dir              keep configuration and data here
#   GRAFANA_HOME=/usr/share/grafana   where an installed Grafana keeps its files
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
rules=${STACK_RULES:-default}
mon_port=${STACK_MONITOR_PORT:-9379}
prom_port=${STACK_PROMETHEUS_PORT:-9090}
am_port=${STACK_ALERTMANAGER_PORT:-9093}
pg_port=${STACK_PUSHGATEWAY_PORT:-9091}
graf_port=${STACK_GRAFANA_PORT:-3000}
host=127.0.0.1
cluster=demo

die() { echo "stack: $*" >&2; exit 1; }

# find NAME...: ./bin first (the pinned tools), then PATH.
find_tool() {
	local n
	for n in "$@"; do
		if [[ -x $bin/$n ]]; then echo "$bin/$n"; return; fi
		if command -v "$n" >/dev/null; then command -v "$n"; return; fi
	done
}

monitor=$(find_tool etcd-monitor)
prometheus=$(find_tool prometheus)
alertmanager=$(find_tool alertmanager)
pushgateway=$(find_tool pushgateway prometheus-pushgateway)
grafana=$(find_tool grafana grafana-server)
[[ -n $monitor ]] || die "no etcd-monitor: run make build"
[[ -n $prometheus && -n $alertmanager ]] || die "no prometheus or alertmanager: run make tools"
[[ -n $pushgateway ]] || die "no pushgateway: install Debian's prometheus-pushgateway (apt-get install prometheus-pushgateway)"
case $rules in
default) rule_file=$root/rules/etcd-monitor.rules.yml; interval=15s ;;
fast) rule_file=$root/rules/etcd-monitor-fast.rules.yml; interval=5s ;;
*) die "STACK_RULES=$rules: want default or fast" ;;
esac
for p in "$mon_port" "$prom_port" "$am_port" "$pg_port"; do
	if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then
		die "port $p on $host is in use (set STACK_*_PORT)"
	fi
done

if [[ -n ${STACK_DIR:-} ]]; then
	state=$STACK_DIR
	mkdir -p "$state"
else
	state=$(mktemp -d -t etcd-monitor-stack.XXXXXX)
fi

pids=()
stopping=
keep=${STACK_DIR:-}
cleanup() {
	[[ -n $stopping ]] && return
	stopping=1
	echo
	echo "stack: stopping"
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ -z $keep ]]; then rm -rf "$state"; else echo "stack: logs and data kept in $state"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: in the background, output to $state/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$state/$name.log" 2>&1 &
	pids+=($!)
}

# wait_url NAME URL: until it answers, or the program died.
wait_url() {
	local name=$1 url=$2 i
	for ((i = 0; i < 300; i++)); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "stack: $name did not come up at $url; its log:" >&2
	tail -n 30 "$state/$name.log" >&2
	keep=1
	exit 1
}

# 0. The webhook's bearer token, shared by Alertmanager (credentials_file)
# and the monitor: deploy/secrets/webhook_token where it exists, else a new
# random one, so that only this Alertmanager writes the alert history.
mkdir -p "$state/alertmanager/secrets"
token_file=$state/alertmanager/secrets/webhook_token
if [[ -f $root/deploy/secrets/webhook_token ]]; then
	ln -sf "$root/deploy/secrets/webhook_token" "$token_file"
else
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$token_file")
fi

# 1. The demo cluster and the monitor. Its output names the members.
start etcd-monitor "$monitor" demo --cluster.name="$cluster" \
	--web.listen-address="$host:$mon_port" --demo.data-dir="$state/etcd" \
	--alerts.webhook-token-file="$token_file"
wait_url etcd-monitor "http://$host:$mon_port/health"
members=()
for ((i = 0; i < 100; i++)); do
	mapfile -t members < <(sed -n 's|^ *etcd member .* client http://\([0-9.:]*\) .*|\1|p' "$state/etcd-monitor.log")
	((${#members[@]} > 0)) && break
	sleep 0.1
done
((${#members[@]} > 0)) || { keep=1; die "the demo printed no members; see $state/etcd-monitor.log"; }
etcd_targets=$(printf "'%s', " "${members[@]}")

# 2. The Pushgateway.
start pushgateway "$pushgateway" --web.listen-address="$host:$pg_port"

# 3. Alertmanager: the shipped configuration with the secrets' directory
# and the webhook's host changed. Real secrets in deploy/secrets/ are used
# where they exist, the examples otherwise (notifications then fail, and
# Alertmanager logs why; the webhook to the monitor works either way).
for ex in "$root"/deploy/secrets/*.example; do
	name=$(basename "$ex" .example)
	if [[ $name == webhook_token ]]; then
		continue # step 0
	elif [[ -f $root/deploy/secrets/$name ]]; then
		ln -sf "$root/deploy/secrets/$name" "$state/alertmanager/secrets/$name"
	else
		cp "$ex" "$state/alertmanager/secrets/$name"
	fi
done
ln -sfn "$root/alertmanager/templates" "$state/alertmanager/templates"
sed -e "s|/etc/alertmanager/secrets/|$state/alertmanager/secrets/|" \
	-e "s|http://etcd-monitor:9379/|http://$host:$mon_port/|" \
	"$root/alertmanager/alertmanager.yml" >"$state/alertmanager/alertmanager.yml"
start alertmanager "$alertmanager" --config.file="$state/alertmanager/alertmanager.yml" \
	--storage.path="$state/alertmanager/data" --web.listen-address="$host:$am_port" \
	--cluster.listen-address=

# 4. Prometheus, configured as deploy/prometheus/prometheus.yml is for
# docker compose, with this machine's addresses.
mkdir -p "$state/prometheus"
cat >"$state/prometheus/prometheus.yml" <<EOF
global:
  scrape_interval: $interval
  evaluation_interval: $interval
rule_files:
  - $rule_file
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['$host:$am_port']
scrape_configs:
  - job_name: etcd-monitor
    static_configs:
      - targets: ['$host:$mon_port']
  - job_name: etcd
    static_configs:
      - targets: [${etcd_targets%, }]
        labels:
          etcd_cluster: $cluster
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ['$host:$pg_port']
EOF
start prometheus "$prometheus" --config.file="$state/prometheus/prometheus.yml" \
	--storage.tsdb.path="$state/prometheus/data" --web.listen-address="$host:$prom_port"

# 5. Grafana, where one is installed, provisioned as in docker compose.
graf_url=
if [[ -n $grafana ]]; then
	graf_home=${GRAFANA_HOME:-/usr/share/grafana}
	mkdir -p "$state/grafana/provisioning/datasources" "$state/grafana/provisioning/dashboards"
	sed -e "s|http://prometheus:9090|http://$host:$prom_port|" -e "s|timeInterval: 15s|timeInterval: $interval|" \
		"$root/dashboards/provisioning/datasources/etcd-monitor.yml" >"$state/grafana/provisioning/datasources/etcd-monitor.yml"
	sed -e "s|/var/lib/grafana/dashboards/etcd-monitor|$root/dashboards|" \
		"$root/dashboards/provisioning/dashboards/etcd-monitor.yml" >"$state/grafana/provisioning/dashboards/etcd-monitor.yml"
	sub=()
	[[ $(basename "$grafana") == grafana ]] && sub=(server)
	GF_PATHS_PROVISIONING=$state/grafana/provisioning GF_PATHS_DATA=$state/grafana/data \
		GF_PATHS_LOGS=$state/grafana/logs GF_SERVER_HTTP_ADDR=$host GF_SERVER_HTTP_PORT=$graf_port \
		start grafana "$grafana" "${sub[@]}" --homepath="$graf_home"
	graf_url=http://$host:$graf_port/
fi

wait_url pushgateway "http://$host:$pg_port/-/ready"
wait_url alertmanager "http://$host:$am_port/-/ready"
wait_url prometheus "http://$host:$prom_port/-/ready"
[[ -n $graf_url ]] && wait_url grafana "${graf_url}api/health"

cat <<EOF

etcd-monitor stack on $host (rules: $rules, state: $state)
  etcd members   ${members[*]}   (etcd_cluster="$cluster")
  etcd-monitor   http://$host:$mon_port/        metrics /metrics, alert history /api/v1/alerts/history
  Prometheus     http://$host:$prom_port/        targets /targets, alerts /alerts
  Alertmanager   http://$host:$am_port/
  Pushgateway    http://$host:$pg_port/
  Grafana        ${graf_url:-not started: no grafana binary (import dashboards/*.json into yours)}
  benchmark      $monitor benchmark --etcd.endpoints=$(printf 'http://%s,' "${members[@]}" | sed 's/,$//') --cluster.name=$cluster --pushgateway.url=http://$host:$pg_port
  stop a member  curl -X POST http://$host:$mon_port/api/v1/demo/members/m2/stop   (start it again: .../m2/start)
Logs in $state/*.log. Press Ctrl-C to stop everything.
EOF

# Run until Ctrl-C, or until one of the programs exits.
wait -n "${pids[@]}" || true
# Ctrl-C reaches the programs as well as this script: give its trap the
# chance to run before taking the exit for a failure.
sleep 1
echo "stack: a program exited; see $state/*.log" >&2
keep=1
exit 1
