package server

import (
	"context"
	"encoding/json"
	"errors"

	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
)

// ConfigSource is where serve's clusters come from, read again at every
// reload: on SIGHUP, on POST /-/reload (with --web.enable-lifecycle) and
// when the config files change.
type ConfigSource struct {
	// Load returns every cluster of the configuration, all shards,
	// validated as at start; an error leaves the running set as it is.
	Load func() ([]collector.ClusterConfig, error)
	// Fingerprint changes when the configuration files do; it is polled
	// every WatchInterval (nil or 0: not polled).
	Fingerprint   func() (string, error)
	WatchInterval time.Duration
	// Loaded is fingerprintState of the files the clusters in Options
	// were read from, taken just before reading them: the watcher reloads
	// only when the files differ from that. ("" reloads at the first poll.)
	Loaded string
	// Signal reloads on every value (SIGHUP).
	Signal <-chan os.Signal
}

// reloadState is what the watcher compares: the fingerprint of the files
// last loaded (or tried), so a bad file is tried once, not every poll.
type reloadState struct {
	mu   sync.Mutex
	last string
}

// fingerprintState is the files' state as the watcher compares it: an
// error (no file, an unreadable one) is a state too, so it is reported once.
func fingerprintState(fingerprint func() (string, error)) string {
	if fingerprint == nil {
		return ""
	}
	fp, err := fingerprint()
	if err != nil {
		return "error: " + err.Error()
	}
	return fp
}

func (m *Monitor) fingerprint() string {
	if m.opts.Config == nil {
		return ""
	}
	return fingerprintState(m.opts.Config.Fingerprint)
}

// Reload reads the configuration again and applies it (Apply). A bad
// configuration changes nothing: the error is logged on one line, returned,
// and etcd_monitor_config_last_reload_successful goes to 0 until a reload
// succeeds.
func (m *Monitor) Reload(trigger string) (Changes, error) {
	cs := m.opts.Config
	if cs == nil || cs.Load == nil {
		return Changes{}, errors.New("nothing to reload: the clusters come from the command line")
	}
	m.state.mu.Lock()
	defer m.state.mu.Unlock()
	// Taken before reading: a file changed while it is read differs at
	// the next poll and is read again.
	m.state.last = m.fingerprint()
	clusters, err := cs.Load()
	if err != nil {
		m.reload.failed()
		m.logger.Error("configuration reload failed; the running clusters are kept", "trigger", trigger, "err", err)
		return Changes{}, err
	}
	ch := m.Apply(clusters)
	m.reload.succeeded(time.Now())
	for _, n := range ch.Added {
		m.logger.Info("cluster added", "etcd_cluster", n)
	}
	for _, n := range ch.Changed {
		m.logger.Info("cluster changed, restarted", "etcd_cluster", n)
	}
	for _, n := range ch.Removed {
		m.logger.Info("cluster removed", "etcd_cluster", n)
	}
	m.logger.Info("configuration reloaded", "trigger", trigger, "added", len(ch.Added), "changed", len(ch.Changed),
		"removed", len(ch.Removed), "unchanged", ch.Unchanged)
	return ch, nil
}

// watch reloads on every signal and whenever the files' fingerprint
// changes, until ctx is done.
func (m *Monitor) watch(ctx context.Context) {
	cs := m.opts.Config
	var tick <-chan time.Time
	if cs.Fingerprint != nil && cs.WatchInterval > 0 {
		t := time.NewTicker(cs.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-cs.Signal:
			_, _ = m.Reload("signal")
		case <-tick:
			m.state.mu.Lock()
			changed := m.fingerprint() != m.state.last
			m.state.mu.Unlock()
			if changed {
				_, _ = m.Reload("file change")
			}
		}
	}
}

// serveReload is POST /-/reload, as Prometheus has it (404 in the demo,
// which has nothing to reload): 403 without
// --web.enable-lifecycle, 405 for another method, 500 when the
// configuration is bad (nothing changed), 200 when it was applied.
func (m *Monitor) serveReload(w http.ResponseWriter, r *http.Request) {
	if m.opts.Config == nil {
		// The demo: it watches the cluster it started, and has neither a
		// configuration to read again nor --web.enable-lifecycle.
		writeJSONError(w, http.StatusNotFound, "reload is not available in the demo: it watches the cluster it started, with no configuration to read again")
		return
	}
	if !m.opts.Lifecycle {
		writeJSONError(w, http.StatusForbidden, "the lifecycle API is off: start the monitor with --web.enable-lifecycle")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONError(w, http.StatusMethodNotAllowed, r.Method+" /-/reload: use POST")
		return
	}
	ch, err := m.Reload("http")
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "reload failed, nothing changed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "added": nonNil(ch.Added), "changed": nonNil(ch.Changed), "removed": nonNil(ch.Removed), "unchanged": ch.Unchanged,
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError answers as the API does: {"error": ..., "status": ...}.
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg, "status": code})
}

// reloadMetrics are the monitor's own configuration metrics, named as
// Prometheus names its own.
type reloadMetrics struct {
	ok, okTime, total, watched, shard prometheus.Gauge
}

func newReloadMetrics(s clusterconfig.Shard) reloadMetrics {
	g := func(name, help string, labels prometheus.Labels) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_monitor", Name: name, Help: help, ConstLabels: labels})
	}
	r := reloadMetrics{
		ok:      g("config_last_reload_successful", "1 if the last configuration reload succeeded (the start counts as one).", nil),
		okTime:  g("config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.", nil),
		total:   g("config_clusters", "Clusters in the configuration, all shards.", nil),
		watched: g("clusters_watched", "Clusters this monitor watches: those of the configuration its shard owns.", nil),
		shard: g("shard_info", "This monitor's shard: it watches the clusters whose name's FNV-1a 64 hash modulo shard_count is shard_index.",
			prometheus.Labels{"shard_index": strconv.Itoa(s.Index), "shard_count": strconv.Itoa(s.Count)}),
	}
	r.shard.Set(1)
	r.succeeded(time.Now())
	return r
}

func (r reloadMetrics) succeeded(at time.Time) {
	r.ok.Set(1)
	r.okTime.Set(float64(at.UnixNano()) / 1e9)
}

func (r reloadMetrics) failed() { r.ok.Set(0) }

func (r reloadMetrics) setClusters(total, watched int) {
	r.total.Set(float64(total))
	r.watched.Set(float64(watched))
}

func (r reloadMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range []prometheus.Gauge{r.ok, r.okTime, r.total, r.watched, r.shard} {
		g.Describe(ch)
	}
}

func (r reloadMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, g := range []prometheus.Gauge{r.ok, r.okTime, r.total, r.watched, r.shard} {
		g.Collect(ch)
	}
}
