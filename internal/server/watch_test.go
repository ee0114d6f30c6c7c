package server

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// reloadLog counts the monitor's "configuration reloaded" lines.
type reloadLog struct{ n atomic.Int64 }

func (l *reloadLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *reloadLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "configuration reloaded" {
		l.n.Add(1)
	}
	return nil
}
func (l *reloadLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *reloadLog) WithGroup(string) slog.Handler      { return l }

// serve started on a config directory reloads it when a file changes, and
// not before: the watcher compares the files with what serve read at start
// (it used to compare with nothing, so its first poll "reloaded" unchanged
// files, logging a reload and moving the last-reload timestamp).
func TestWatcherReloadsOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	clusterFile(t, dir, "a", []string{"127.0.0.1:1"}, "1h")
	app := kingpin.New("etcd-monitor", "")
	f := registerFlags(app.Command("serve", "").Default(), clusterconfig.Options{FileHelp: "clusters", HealthCheckInterval: time.Hour, Reload: true})
	if _, err := app.Parse([]string{"serve", "--config.file=" + dir, "--config.watch-interval=100ms"}); err != nil {
		t.Fatal(err)
	}
	opts, err := f.serveOptions()
	if err != nil {
		t.Fatal(err)
	}
	var polls atomic.Int64
	fingerprint := opts.Config.Fingerprint
	opts.Config.Fingerprint = func() (string, error) { polls.Add(1); return fingerprint() }
	log := &reloadLog{}
	m := New(opts, slog.New(log))
	m.Start()
	t.Cleanup(m.Close)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.watch(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitfor.Until(t, 30*time.Second, "the watcher to poll the unchanged files a few times", func() bool { return polls.Load() >= 5 })
	if n := log.n.Load(); n != 0 {
		t.Errorf("%d reloads of files nobody changed", n)
	}
	clusterFile(t, dir, "b", []string{"127.0.0.1:1"}, "1h")
	waitfor.Until(t, 30*time.Second, "the added file to be loaded", func() bool {
		return slices.Equal(names(m.Checkers()), []string{"a", "b"})
	})
	if n := log.n.Load(); n != 1 {
		t.Errorf("%d reloads for one added file, want 1", n)
	}
}
