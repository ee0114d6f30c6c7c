// Package server runs the monitor: one background checker per watched
// cluster, and the HTTP side (/metrics, landing page) on the exporter-toolkit
// listener, so --web.config.file's TLS and basic auth protect all of it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/statuspage"
)

// Options configure a monitor.
type Options struct {
	Clusters      []collector.ClusterConfig
	TelemetryPath string
	// Benchmark enables POST /api/v1/performance/benchmark (off by
	// default: it writes load into the watched cluster).
	Benchmark bool
	// Demo enables the demo's member control endpoints.
	Demo api.DemoControl
	// Alerts configure the alert webhook and its history.
	Alerts AlertOptions
}

// Monitor is a running set of checkers and the registry that exposes them.
type Monitor struct {
	opts     Options
	logger   *slog.Logger
	Checkers collector.Checkers
	Probes   *collector.ProbeMetrics
	Registry *prometheus.Registry
	Alerts   *alerthistory.Store
	API      *api.API
	// Trends records the last hour of every cluster for the status page.
	Trends *status.Recorder
}

// New builds a monitor; Start begins checking.
func New(opts Options, logger *slog.Logger) *Monitor {
	if opts.TelemetryPath == "" {
		opts.TelemetryPath = "/metrics"
	}
	m := &Monitor{opts: opts, logger: logger, Probes: collector.NewProbeMetrics()}
	for _, c := range opts.Clusters {
		m.Checkers = append(m.Checkers, collector.NewChecker(c, logger, collector.WithProbeMetrics(m.Probes)))
	}
	// Our own registry: in demo mode, etcd's in-process servers register
	// their metrics on the default one, and those belong to etcd's /metrics.
	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(
		versioncollector.NewCollector("etcd_monitor"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector.NewClusterCollector(m.Checkers),
		m.Probes,
	)
	var historyOpts []alerthistory.Option
	if opts.Alerts.HistoryBytes > 0 {
		historyOpts = append(historyOpts, alerthistory.MaxBytes(opts.Alerts.HistoryBytes))
	}
	m.Alerts = alerthistory.New(alerthistory.DefaultMaxEntries, collector.LabelCluster, logger, historyOpts...)
	m.Trends = status.NewRecorder(status.Sources(m.Checkers))
	var benchmarks *api.Benchmarks
	if opts.Benchmark {
		benchmarks = &api.Benchmarks{}
	}
	m.API = api.New(api.Options{Clusters: status.Sources(m.Checkers), Alerts: m.Alerts, Benchmarks: benchmarks, Demo: opts.Demo, Logger: logger,
		WebhookToken: opts.Alerts.WebhookToken})
	return m
}

// Start starts the background checkers.
func (m *Monitor) Start() { m.Checkers.Start(); m.Trends.Start() }

// Close stops the checkers and closes their connections.
func (m *Monitor) Close() { m.Trends.Close(); m.Checkers.Close() }

// Handler serves the telemetry path and the landing page.
func (m *Monitor) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	for _, p := range m.API.Paths() {
		mux.Handle(p, m.API)
	}
	mux.Handle(m.opts.TelemetryPath, promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
		// A broken metric must not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	if m.opts.TelemetryPath != "/" {
		page, err := statuspage.New(statuspage.Options{
			Clusters: status.Sources(m.Checkers), Alerts: m.Alerts, Trends: m.Trends,
			TelemetryPath: m.opts.TelemetryPath, Version: version.Version,
		})
		if err != nil {
			return nil, fmt.Errorf("status page: %w", err)
		}
		mux.Handle("/", page)
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
