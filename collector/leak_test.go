package collector

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// A closed checker leaves no goroutine behind: its loop, its per-member
// gRPC connections and its HTTP client all end with Close.
func TestCheckerCloseLeaksNothing(t *testing.T) {
	bs := testetcd.Backends(t)
	// etcd as separate processes keeps the server's own goroutines out of
	// the picture when available; in-process servers are ignored as they
	// were before the checker started.
	b := bs[len(bs)-1]
	c := startCluster(t, b, localetcd.Options{Members: 3})
	time.Sleep(500 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()

	ch := NewChecker(ClusterConfig{Name: "leak", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval}, testLogger(t))
	ch.Start()
	waitFor(t, ch, 10*time.Second, "healthy", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
	c.Member(2).BlackholeClient() // a call in flight to a hung member must end too
	time.Sleep(2 * testInterval)
	ch.Close()
	c.Member(2).UnblackholeClient()
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}
