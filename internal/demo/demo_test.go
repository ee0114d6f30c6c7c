package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

func TestDemoMemberControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	a := api.New(api.Options{Demo: &control{cluster: cl, logger: slog.New(slog.DiscardHandler)}})
	post := func(path string) int {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%s: not JSON: %s", path, rec.Body.String())
		}
		return rec.Code
	}
	m := cl.Member(2)
	if code := post("/api/v1/demo/members/" + m.Name + "/stop"); code != 200 || m.Running() {
		t.Fatalf("stop: %d, running %v", code, m.Running())
	}
	if code := post("/api/v1/demo/members/" + m.Name + "/start"); code != 200 || !m.Running() {
		t.Fatalf("start: %d, running %v", code, m.Running())
	}
	if err := cl.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if code := post("/api/v1/demo/members/" + m.Name + "/partition"); code != 200 {
		t.Fatalf("partition: %d", code)
	}
	if code := post("/api/v1/demo/members/" + m.Name + "/heal"); code != 200 {
		t.Fatalf("heal: %d", code)
	}
	if code := post("/api/v1/demo/members/nobody/stop"); code != 404 {
		t.Errorf("unknown member: %d", code)
	}
	if code := post("/api/v1/demo/members/" + m.Name + "/explode"); code != 404 {
		t.Errorf("unknown action: %d", code)
	}
}

// TestDemoReload runs the demo command as a user does and posts
// /-/reload: the demo has no configuration to read again and no
// --web.enable-lifecycle, so the answer says reload is not available in the
// demo, as JSON, without naming a flag the demo does not take.
func TestDemoReload(t *testing.T) {
	addr := freeport.Addr(t)
	app := kingpin.New("etcd-monitor", "")
	cmd := Register(app)
	if _, err := app.Parse([]string{"demo", "--demo.members=1", "--web.listen-address=" + addr}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx, slog.New(slog.DiscardHandler)) }()
	stopped := false
	defer func() {
		cancel()
		if stopped {
			return
		}
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	var resp *http.Response
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		resp, err = http.Post("http://"+addr+"/-/reload", "application/json", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not answer within a minute: %v", err)
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the demo stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer resp.Body.Close()
	var got struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("POST /-/reload: %d, not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusNotFound || got.Status != http.StatusNotFound ||
		!strings.Contains(got.Error, "not available in the demo") || strings.Contains(got.Error, "--web.enable-lifecycle") {
		t.Errorf("POST /-/reload on the demo: %d %+v, want 404 saying reload is not available in the demo", resp.StatusCode, got)
	}
}
