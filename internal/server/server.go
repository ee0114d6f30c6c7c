// Package server runs the monitor: one background checker per watched
// cluster, kept up to date with the configuration at every reload, and the
// HTTP side (/metrics, the API, the landing page, /-/reload) on the
// exporter-toolkit listener, so --web.config.file's TLS and basic auth
// protect all of it.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/statuspage"
)

// schedLatencies adds go_sched_latencies_seconds, how long the monitor's
// goroutines waited to run once runnable. A probe's latency is timed in
// such a goroutine, so when the monitor lacks CPU (thousands of clusters on
// a few cores) its own wait is in every probe; this histogram shows that
// wait beside them, so it is not read as etcd's (docs/performance-fleet.md).
var schedLatencies = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)}

// Options configure a monitor.
type Options struct {
	// Clusters are every cluster of the configuration; the monitor
	// watches those Shard owns.
	Clusters      []collector.ClusterConfig
	Shard         clusterconfig.Shard
	TelemetryPath string
	// Benchmark enables POST /api/v1/performance/benchmark (off by
	// default: it writes load into the watched cluster).
	Benchmark bool
	// Demo enables the demo's member control endpoints.
	Demo api.DemoControl
	// Alerts configure the alert webhook and its history.
	Alerts AlertOptions
	// Config, when set, is read again at every reload (see reload.go).
	Config *ConfigSource
	// Lifecycle serves POST /-/reload (--web.enable-lifecycle).
	Lifecycle bool
	// ProbeBuckets are the probe histogram's classic buckets (nil: the
	// default; empty: none, the native histogram only).
	ProbeBuckets []float64
	// MaxRoundsInFlight bounds the check and probe rounds running at once
	// across all clusters (0: collector.DefaultMaxInFlightRounds).
	MaxRoundsInFlight int
}

// Monitor is a running set of checkers and the handlers that expose them.
// The set changes at a reload (Apply); everything that reads it (the
// metrics, the API, the status page, the trends) reads the current one.
type Monitor struct {
	opts   Options
	logger *slog.Logger
	fleet  fleet
	// registry holds the monitor's own metrics (build, Go, process,
	// reloads, scheduling); the fleet's are written by metricsHandler.
	registry *prometheus.Registry
	Alerts   *alerthistory.Store
	// Trends records the last hour of every cluster for the status page.
	Trends *status.Recorder

	// applyMu makes reloads one at a time; started says whether Apply
	// starts what it adds.
	applyMu    sync.Mutex
	started    bool
	benchmarks *api.Benchmarks
	sched      *collector.Scheduler
	reload     reloadMetrics
	state      reloadState
	// api and page are rebuilt over the new set at every Apply.
	api  atomic.Pointer[api.API]
	page atomic.Pointer[http.Handler]
}

// New builds a monitor; Start begins checking.
func New(opts Options, logger *slog.Logger) *Monitor {
	if opts.TelemetryPath == "" {
		opts.TelemetryPath = "/metrics"
	}
	if opts.Shard.Count < 1 {
		opts.Shard = clusterconfig.Shard{Count: 1}
	}
	m := &Monitor{opts: opts, logger: logger}
	m.reload = newReloadMetrics(opts.Shard)
	if opts.Config != nil {
		m.state.last = opts.Config.Loaded
	}
	if opts.MaxRoundsInFlight <= 0 {
		opts.MaxRoundsInFlight = collector.DefaultMaxInFlightRounds
	}
	// One scheduler for every cluster, across reloads: the bound is the
	// process's, and its counters are the monitor's own lateness.
	m.sched = collector.NewScheduler(opts.MaxRoundsInFlight)
	// Our own registry: in demo mode, etcd's in-process servers register
	// their metrics on the default one, and those belong to etcd's /metrics.
	m.registry = prometheus.NewRegistry()
	m.registry.MustRegister(
		versioncollector.NewCollector("etcd_monitor"),
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(schedLatencies)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.reload,
		m.sched,
	)
	var historyOpts []alerthistory.Option
	if opts.Alerts.HistoryBytes > 0 {
		historyOpts = append(historyOpts, alerthistory.MaxBytes(opts.Alerts.HistoryBytes))
	}
	m.Alerts = alerthistory.New(alerthistory.DefaultMaxEntries, collector.LabelCluster, logger, historyOpts...)
	m.Trends = status.NewRecorder(nil)
	if opts.Benchmark {
		// One guard for the monitor's life: a reload rebuilds the API.
		m.benchmarks = &api.Benchmarks{}
	}
	m.Apply(opts.Clusters)
	return m
}

// Checkers are the running checkers, in configuration order.
func (m *Monitor) Checkers() collector.Checkers { return m.fleet.checkers() }

// Start starts the background checkers.
func (m *Monitor) Start() {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.started = true
	m.Checkers().Start()
	m.Trends.Start()
}

// Close stops the checkers and closes their connections.
func (m *Monitor) Close() {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.Trends.Close()
	m.Checkers().Close()
	m.started = false
}

// Changes say what an Apply did, by cluster name.
type Changes struct {
	Added, Changed, Removed []string
	Unchanged               int
}

// Apply makes clusters (every cluster of the configuration; the monitor
// keeps those its shard owns) the watched set: a cluster whose settings
// are the same keeps its checker, and with it its leader history and probe
// window; a changed one is stopped and started again with the new
// settings; a removed one is stopped and its series go; a new one starts.
func (m *Monitor) Apply(clusters []collector.ClusterConfig) Changes {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	mine := m.opts.Shard.Filter(clusters)
	old := map[string]*watched{}
	for _, w := range m.fleet.list() {
		old[w.checker.Name()] = w
	}
	var ch Changes
	var stop collector.Checkers
	var start collector.Checkers
	next := make([]*watched, 0, len(mine))
	for _, c := range mine {
		key := configKey(c)
		w, ok := old[c.Name]
		delete(old, c.Name)
		if ok && bytes.Equal(w.key, key) {
			next = append(next, w)
			ch.Unchanged++
			continue
		}
		if ok {
			stop = append(stop, w.checker)
			ch.Changed = append(ch.Changed, c.Name)
		} else {
			ch.Added = append(ch.Added, c.Name)
		}
		var pmOpts []collector.ProbeMetricsOption
		if m.opts.ProbeBuckets != nil {
			pmOpts = append(pmOpts, collector.WithProbeBuckets(m.opts.ProbeBuckets))
		}
		pm := collector.NewProbeMetrics(pmOpts...)
		nw := &watched{checker: collector.NewChecker(c, m.logger, collector.WithProbeMetrics(pm), collector.WithScheduler(m.sched)), probes: pm, key: key}
		next = append(next, nw)
		start = append(start, nw.checker)
	}
	for name, w := range old {
		stop = append(stop, w.checker)
		ch.Removed = append(ch.Removed, name)
	}
	slices.Sort(ch.Removed)
	m.fleet.replace(next)
	m.reload.setClusters(len(clusters), len(next))
	// Stopped before the new ones start: a changed cluster's old and new
	// checkers would otherwise probe the same keys at once.
	stop.Close()
	if m.started {
		start.Start()
	}
	srcs := m.fleet.sources()
	m.Trends.SetSources(srcs)
	m.api.Store(api.New(api.Options{
		Clusters: srcs, Alerts: m.Alerts, Benchmarks: m.benchmarks, Demo: m.opts.Demo, Logger: m.logger,
		WebhookToken: m.opts.Alerts.WebhookToken,
	}))
	if page, err := statuspage.New(statuspage.Options{
		Clusters: srcs, Alerts: m.Alerts, Trends: m.Trends,
		TelemetryPath: m.opts.TelemetryPath, Version: version.Version,
	}); err == nil {
		m.page.Store(&page)
	} else {
		// Embedded templates: only a build broken at compile time gets
		// here, and Handler reports it at start.
		m.logger.Error("status page", "err", err)
	}
	return ch
}

// Handler serves the telemetry path, the API, the landing page and, with
// Lifecycle, POST /-/reload.
func (m *Monitor) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.api.Load().ServeHTTP(w, r) })
	for _, p := range m.api.Load().Paths() {
		mux.Handle(p, apiHandler)
	}
	mux.Handle(m.opts.TelemetryPath, &gzipHandler{h: &metricsHandler{reg: m.registry, fleet: &m.fleet, logger: m.logger}})
	mux.Handle("/-/reload", http.HandlerFunc(m.serveReload))
	if m.opts.TelemetryPath != "/" {
		if m.page.Load() == nil {
			return nil, errors.New("status page: templates did not load")
		}
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*m.page.Load()).ServeHTTP(w, r) }))
	}
	return mux, nil
}

// Serve runs the HTTP server on the exporter-toolkit listener until ctx is
// done, then shuts it down gracefully.
func (m *Monitor) Serve(ctx context.Context, flags *web.FlagConfig) error {
	h, err := m.Handler()
	if err != nil {
		return err
	}
	if len(m.opts.Alerts.WebhookToken) == 0 {
		m.logger.Info("the alert webhook (POST /api/v1/alerts) takes notifications from anyone who can reach the port (and --web.config.file lets in); --alerts.webhook-token-file requires a bearer token")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, flags, m.logger) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("web server: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}
