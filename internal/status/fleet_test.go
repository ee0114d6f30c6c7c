package status_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

func TestSummarize(t *testing.T) {
	now := time.Now()
	at := now.Add(-4200 * time.Millisecond)
	deg := statustest.New("b").Set(statustest.Down(statustest.Healthy("b", at), "m3", "refused"))
	got := status.Summarize(deg, now)
	if got.Name != "b" || got.State != status.StateDegraded || got.Problem != "member m3 is down" || got.ProblemCount != 2 ||
		got.Members != 3 || got.HealthyMembers != 2 || got.Leader != "m1" || !got.Fresh ||
		got.LastCheck == nil || !got.LastCheck.Equal(at) || got.LastCheckAge == nil || *got.LastCheckAge != 4.2 {
		t.Errorf("degraded cluster: %+v", got)
	}
	// The summary and the full model judge alike.
	if full := status.Build(deg); full.State != got.State || full.Problems[0] != got.Problem || len(full.Problems) != got.ProblemCount {
		t.Errorf("summary %+v disagrees with status %+v", got, full)
	}

	down := statustest.New("c").Set(statustest.Unreachable(statustest.Healthy("c", now.Add(-2*time.Minute)), "timeout"))
	if got := status.Summarize(down, now); got.State != status.StateUnavailable || got.Leader != "" || got.HealthyMembers != 0 ||
		got.Problem != "no member could be reached" || got.Fresh {
		t.Errorf("unreachable cluster checked 2 minutes ago: %+v", got)
	}
	if got := status.Summarize(statustest.New("d"), now); got.State != status.StateUnknown || got.LastCheck != nil ||
		got.LastCheckAge != nil || got.Fresh || got.Problem != "no check has finished yet" {
		t.Errorf("never checked: %+v", got)
	}
}

func TestFleetCountsAndOrder(t *testing.T) {
	now := time.Now()
	fl := status.BuildFleet(statustest.FleetSources(1000, now), status.Filter{}, now)
	want := status.Counts{Healthy: 920, Degraded: 50, Unavailable: 20, Unknown: 10}
	if fl.Total != 1000 || fl.Matched != 1000 || fl.Counts != want || fl.Counts.Worst() != status.StateUnavailable {
		t.Fatalf("fleet: total %d matched %d counts %+v", fl.Total, fl.Matched, fl.Counts)
	}
	// Worst first, then by name.
	if fl.Clusters[0].Name != "tenant-0007" || fl.Clusters[19].Name != "tenant-0957" || fl.Clusters[20].State != status.StateDegraded ||
		fl.Clusters[70].Name != "tenant-0099" || fl.Clusters[80].Name != "tenant-0000" {
		t.Errorf("order: %s %s %s %s %s", fl.Clusters[0].Name, fl.Clusters[19].Name, fl.Clusters[20].Name, fl.Clusters[70].Name, fl.Clusters[80].Name)
	}
	for i := 1; i < len(fl.Clusters); i++ {
		a, b := fl.Clusters[i-1], fl.Clusters[i]
		if status.Worse(b.State, a.State) || (a.State == b.State && a.Name >= b.Name) {
			t.Fatalf("%s (%s) before %s (%s)", a.Name, a.State, b.Name, b.State)
		}
	}
	if w := (status.Counts{Healthy: 3}).Worst(); w != status.StateHealthy {
		t.Errorf("all healthy: worst %s", w)
	}
	if w := (status.Counts{}).Worst(); w != status.StateUnknown {
		t.Errorf("no cluster: worst %s", w)
	}
}

func TestFleetFilter(t *testing.T) {
	now := time.Now()
	srcs := statustest.FleetSources(1000, now)
	names := func(fl status.Fleet) []string {
		var n []string
		for _, c := range fl.Clusters {
			n = append(n, c.Name)
		}
		return n
	}
	for _, tc := range []struct {
		name, state string
		want        []string // nil: check only the count
		count       int
	}{
		{"TENANT-000", "", nil, 10}, // substring, any case
		{"-009", "", []string{"tenant-0099", "tenant-0090", "tenant-0091", "tenant-0092", "tenant-0093", "tenant-0094", "tenant-0095", "tenant-0096", "tenant-0097", "tenant-0098"}, 10},
		{"tenant-09?7", "unavailable", []string{"tenant-0907", "tenant-0957"}, 2}, // glob and state
		{"*-01[0-4]?", "degraded", []string{"tenant-0103", "tenant-0123", "tenant-0143"}, 3},
		{"tenant", "", nil, 1000},
		{"tenant", "unhealthy", nil, 80},
		{"", "degraded, unknown", nil, 60},
		{"", "healthy", nil, 920},
		{"0099", "", []string{"tenant-0099"}, 1},
		{"0099*", "", nil, 0}, // a glob is over the whole name
		{"tenant-00*", "", nil, 100},
	} {
		f, err := status.ParseFilter(tc.name, tc.state)
		if err != nil {
			t.Fatalf("%q %q: %v", tc.name, tc.state, err)
		}
		fl := status.BuildFleet(srcs, f, now)
		if fl.Matched != tc.count || len(fl.Clusters) != tc.count || fl.Total != 1000 || fl.Counts.Healthy != 920 {
			t.Errorf("name %q state %q: matched %d of %d (counts %+v), want %d", tc.name, tc.state, fl.Matched, fl.Total, fl.Counts, tc.count)
		}
		if tc.want != nil && !slices.Equal(names(fl), tc.want) {
			t.Errorf("name %q state %q: %v, want %v", tc.name, tc.state, names(fl), tc.want)
		}
	}
	for _, bad := range [][2]string{{"tenant-[", ""}, {"", "sick"}, {"", "healthy,,bogus"}} {
		if _, err := status.ParseFilter(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "want") && !strings.Contains(err.Error(), "glob") {
			t.Errorf("ParseFilter(%q, %q): %v, want an error", bad[0], bad[1], err)
		}
	}
}
