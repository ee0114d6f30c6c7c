package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// gate is a collector whose Collect waits until the test opens it, and
// counts how often it ran.
type gate struct {
	desc    *prometheus.Desc
	entered chan struct{}
	open    chan struct{}
	runs    atomic.Int64
}

func (g *gate) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }
func (g *gate) Collect(ch chan<- prometheus.Metric) {
	if g.runs.Add(1) == 1 {
		close(g.entered)
	}
	<-g.open
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, 42)
}

// Scrapes that arrive while one is gathering (an HA pair of Prometheus
// servers) share its gathering, whatever format each asked for; a scrape
// after it gathers afresh.
func TestScrapesShareAGathering(t *testing.T) {
	g := &gate{desc: prometheus.NewDesc("gate_value", "A value.", nil, nil), entered: make(chan struct{}), open: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	sg := &sharedGather{g: reg}
	srv := httptest.NewServer(promhttp.HandlerFor(sg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()

	accepts := []string{"text/plain;version=0.0.4",
		"application/openmetrics-text;version=1.0.0",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}
	bodies := make([]string, len(accepts))
	var wg sync.WaitGroup
	scrape := func(i int) {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept", accepts[i])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		bodies[i] = string(b)
	}
	wg.Add(1)
	go scrape(0)
	<-g.entered // the first scrape is gathering
	for i := 1; i < len(accepts); i++ {
		wg.Add(1)
		go scrape(i)
	}
	waitfor.Until(t, 30*time.Second, "the other scrapes to wait on the gathering", func() bool { return sg.waiting() == len(accepts)-1 })
	close(g.open)
	wg.Wait()
	if n := g.runs.Load(); n != 1 {
		t.Errorf("%d gatherings for %d overlapping scrapes, want 1", n, len(accepts))
	}
	for i, b := range bodies {
		if !strings.Contains(b, "gate_value") {
			t.Errorf("scrape as %s: no gate_value in %q", accepts[i], b)
		}
	}
	wg.Add(1)
	scrape(0)
	if n := g.runs.Load(); n != 2 {
		t.Errorf("a later scrape did not gather again: %d gatherings", n)
	}
}
