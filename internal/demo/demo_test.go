package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
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
