package pushgateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

func TestParseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://gw:9091":  "",
		"https://gw":      "",
		"localhost:9091":  "want an http:// or https:// URL",
		"http://":         "no host",
		"::not a url":     "missing protocol scheme",
		"ftp://gw:9091/x": "want an http:// or https:// URL",
	} {
		_, err := ParseURL(raw)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseURL(%q) = %v, want %q", raw, err, want)
		}
	}
}

// The group is job (the default one when unset) and etcd_cluster, plus
// what send adds; the method is send's choice.
func TestPushGroup(t *testing.T) {
	var method, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path = r.Method, r.URL.Path
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"})
	ctx := context.Background()

	err := Push(ctx, Options{URL: srv.URL, Cluster: "a"}, "default_job", func(ctx context.Context, p *push.Pusher) error {
		return p.Grouping("workload", "read").Collector(g).PushContext(ctx)
	})
	if err != nil || method != http.MethodPut || group(path) != "job=default_job etcd_cluster=a workload=read" {
		t.Errorf("replace: %v, %s %s", err, method, path)
	}
	err = Push(ctx, Options{URL: srv.URL, Job: "mine", Cluster: "b"}, "default_job", func(ctx context.Context, p *push.Pusher) error {
		return p.Collector(g).AddContext(ctx)
	})
	if err != nil || method != http.MethodPost || group(path) != "job=mine etcd_cluster=b" {
		t.Errorf("add: %v, %s %s", err, method, path)
	}
}

// group reads a push path, /metrics/job/J/L1/V1/L2/V2..., as "job=J" and
// the grouping labels sorted: client_golang orders them as a map does.
func group(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	if len(parts)%2 != 0 || len(parts) < 2 || parts[0] != "job" {
		return "malformed: " + path
	}
	var labels []string
	for i := 2; i+1 < len(parts); i += 2 {
		labels = append(labels, parts[i]+"="+parts[i+1])
	}
	slices.Sort(labels)
	return strings.Join(append([]string{"job=" + parts[1]}, labels...), " ")
}

// A Pushgateway that does not answer costs Timeout, not the caller's
// whole deadline.
func TestPushTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err := Push(context.Background(), Options{URL: srv.URL, Cluster: "a", Timeout: 200 * time.Millisecond}, "j",
		func(ctx context.Context, p *push.Pusher) error {
			return p.Collector(prometheus.NewGauge(prometheus.GaugeOpts{Name: "x", Help: "x"})).PushContext(ctx)
		})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("push to a hung Pushgateway: %v after %s", err, time.Since(start))
	}
}
