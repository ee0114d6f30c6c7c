// Package e2e holds the end-to-end tests of etcd-monitor as users deploy it:
// the etcd-monitor binary, the shipped Prometheus rules, Alertmanager
// configuration and Grafana dashboards, run with the pinned Prometheus,
// Alertmanager and Pushgateway against real etcd clusters on loopback; and
// the checks of docker-compose.yml and the Dockerfile that need no
// container engine. The package has tests only; see docs/performance-e2e.md
// for what they measure.
package e2e
