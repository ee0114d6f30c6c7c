package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

type clustersAnswer struct {
	Total      int              `json:"total"`
	Counts     status.Counts    `json:"counts"`
	Matched    int              `json:"matched"`
	Offset     int              `json:"offset"`
	Limit      int              `json:"limit"`
	NextOffset *int             `json:"next_offset"`
	Clusters   []status.Summary `json:"clusters"`
}

// The fleet list over real HTTP: 1,000 clusters in one bounded answer,
// unhealthy first, with the filters and pages an operator's script uses.
func TestClustersList(t *testing.T) {
	_, srv := serve(t, Options{}, statustest.FleetSources(1000, time.Now().Add(-3*time.Second))...)

	resp, err := http.Get(srv.URL + "/api/v1/clusters")
	if err != nil {
		t.Fatal(err)
	}
	var all clustersAnswer
	err = json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/clusters: %d %v", resp.StatusCode, err)
	}
	// Bounded: about 250 bytes a cluster.
	if resp.ContentLength <= 0 || resp.ContentLength > 300<<10 {
		t.Errorf("1,000 clusters in %d bytes, want at most 300 KiB", resp.ContentLength)
	}
	t.Logf("1,000 clusters: %d bytes", resp.ContentLength)
	if all.Total != 1000 || all.Matched != 1000 || len(all.Clusters) != 1000 || all.NextOffset != nil ||
		all.Counts != (status.Counts{Healthy: 920, Degraded: 50, Unavailable: 20, Unknown: 10}) {
		t.Fatalf("answer: total %d matched %d listed %d next %v counts %+v", all.Total, all.Matched, len(all.Clusters), all.NextOffset, all.Counts)
	}
	first := all.Clusters[0]
	if first.Name != "tenant-0007" || first.State != "unavailable" || first.Problem != "no member could be reached" ||
		first.Members != 3 || first.HealthyMembers != 0 || first.Leader != "" || first.LastCheckAge == nil || *first.LastCheckAge < 3 {
		t.Errorf("first cluster: %+v", first)
	}
	if c := all.Clusters[20]; c.Name != "tenant-0003" || c.State != "degraded" || c.Problem != "member m3 is down" || c.ProblemCount != 2 ||
		c.HealthyMembers != 2 || c.Leader != "m1" || !c.Fresh {
		t.Errorf("first degraded cluster: %+v", c)
	}
	if c := all.Clusters[999]; c.State != "healthy" || c.Name != "tenant-0998" || c.Problem != "" || c.ProblemCount != 0 {
		t.Errorf("last cluster: %+v", c)
	}
	// One cluster a line: grep-able.
	if body := httpget.Body(t, srv.URL+"/api/v1/clusters?state=unavailable"); strings.Count(body, "\n") != 22 ||
		!strings.Contains(body, "\n"+`{"name":"tenant-0007","state":"unavailable",`) {
		t.Errorf("unavailable clusters, one a line:\n%s", body)
	}

	var page clustersAnswer
	if code := get(t, srv.URL+"/api/v1/clusters?state=unhealthy&name=tenant-0*&limit=30&offset=60", &page); code != 200 ||
		page.Matched != 80 || len(page.Clusters) != 20 || page.NextOffset != nil || page.Offset != 60 || page.Limit != 30 ||
		page.Clusters[0].Name != "tenant-0803" || page.Clusters[19].Name != "tenant-0999" {
		t.Errorf("last page of the unhealthy: %d %+v", code, page)
	}
	if code := get(t, srv.URL+"/api/v1/clusters?name=TENANT-012&limit=3", &page); code != 200 || page.Matched != 10 ||
		len(page.Clusters) != 3 || page.NextOffset == nil || *page.NextOffset != 3 || page.Clusters[0].Name != "tenant-0123" {
		t.Errorf("first page of a name search: %d %+v", code, page)
	}
	if code := get(t, srv.URL+"/api/v1/clusters?offset=5000", &page); code != 200 || len(page.Clusters) != 0 || page.Matched != 1000 {
		t.Errorf("past the end: %d %+v", code, page)
	}

	for _, bad := range []string{"state=sick", "name=tenant-%5B", "limit=0", "limit=1001", "limit=x", "offset=-1"} {
		var e errorBody
		if code := get(t, srv.URL+"/api/v1/clusters?"+bad, &e); code != 400 || e.Status != 400 || e.Error == "" || strings.Contains(e.Error, "\n") {
			t.Errorf("?%s: %d %+v, want 400 with a one-line error", bad, code, e)
		}
	}
	// An error naming the watched clusters lists a few, not a thousand.
	var e errorBody
	if code := get(t, srv.URL+"/api/v1/cluster/status", &e); code != 400 || len(e.Error) > 300 ||
		!strings.Contains(e.Error, "tenant-0009 and 990 more (GET /api/v1/clusters lists them)") {
		t.Errorf("status without ?cluster= in a fleet: %d %q", code, e.Error)
	}
}

// BenchmarkClustersList is GET /api/v1/clusters of 1,000 hand-built
// 3-member clusters.
func BenchmarkClustersList(b *testing.B) {
	statustest.BenchmarkServe(b, New(Options{Clusters: statustest.FleetSources(1000, time.Now())}), "/api/v1/clusters", "bytes/response")
}
