package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/cputime"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/golden"
)

// This file measures and pins what a /metrics scrape of a fleet costs and
// shows: the fleet's families as internal/server writes them (Scraper
// and the exposition encoders) over hand-built snapshots, no etcd needed,
// and that they are what a registry of the same collectors would gather.

// fixedSnapshots is a SnapshotSource over snapshots built by the test.
type fixedSnapshots []*Snapshot

func (f fixedSnapshots) Snapshots() []*Snapshot { return f }

// fleetProbes collects the probe metrics of every cluster, unchecked like
// internal/server's probeCollector (every ProbeMetrics has the same
// descriptors).
type fleetProbes []*ProbeMetrics

func (fleetProbes) Describe(chan<- *prometheus.Desc) {}

func (f fleetProbes) Collect(ch chan<- prometheus.Metric) {
	for _, p := range f {
		p.Collect(ch)
	}
}

// scrapeAt is the wall clock of the hand-built fleet: every timestamp in it
// derives from this, so the exposition is the same on every run.
var scrapeAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fleetSnapshot builds cluster i of a hand-built fleet. Most clusters are
// healthy 3-member clusters; every 20th (starting at 1) is degraded and
// walks the other branches of the collector: a member down, one refusing
// the monitor, a learner with an alarm, an unstarted member, TLS
// certificates and a KV hash comparison.
func fleetSnapshot(i int) *Snapshot {
	name := fmt.Sprintf("cluster-%04d", i)
	s := &Snapshot{
		Cluster: name, Time: scrapeAt.Add(-time.Duration(i%7) * time.Second), Duration: time.Duration(20+i%13) * time.Millisecond,
		Success: true, ClusterID: 0xa1b2c3d4e5f60000 + uint64(i), Version: "3.5.17",
		VotingMembers: 3, HealthyVoting: 3, QuorumSize: 2, FailureTolerance: 1, HasQuorum: true, Quorum: QuorumOK,
		HasLeader: true, RaftTerm: uint64(5 + i%3), Revision: int64(100000 + 37*i),
		LeaderChanges: uint64(i % 3), MembershipChanges: 0,
	}
	if s.LeaderChanges > 0 {
		s.LastLeaderChange = scrapeAt.Add(-time.Duration(i) * time.Minute)
	}
	for m := range 3 {
		ms := MemberState{
			ID: 0x1000 + uint64(1000*i+m), Name: fmt.Sprintf("%s-m%d", name, m),
			Endpoint: fmt.Sprintf("https://10.%d.%d.%d:2379", i/250, i%250, 10+m),
			PeerURLs: []string{fmt.Sprintf("https://10.%d.%d.%d:2380", i/250, i%250, 10+m)},
			Up:       true, Healthy: true, LastSeen: s.Time, Version: "3.5.17",
			DBSize: int64(25<<20 + 4096*i), DBSizeInUse: int64(18<<20 + 4096*i), DBQuota: 2 << 30,
			RaftTerm: s.RaftTerm, RaftIndex: uint64(200000 + 41*i - m), RaftAppliedIndex: uint64(200000 + 41*i - m),
			RaftIndexLag: uint64(m),
		}
		ms.ClientURLs = []string{ms.Endpoint}
		if m == 0 {
			ms.IsLeader = true
			s.LeaderID = ms.ID
		}
		s.Members = append(s.Members, ms)
	}
	if i%20 != 1 {
		return s
	}
	// The degraded cluster.
	s.HealthyVoting, s.FailureTolerance, s.Learners, s.MembershipChanges = 2, 0, 1, 2
	s.VotingMembers = 4
	s.QuorumSize = 3
	s.HasQuorum, s.HasLeader, s.Quorum, s.SplitBrain = false, false, QuorumLost, true
	down := &s.Members[1]
	down.Up, down.Healthy, down.LastSeen = false, false, s.Time.Add(-3*time.Minute)
	refusing := &s.Members[2]
	refusing.Up, refusing.Healthy, refusing.LastSeen, refusing.Contact = false, false, time.Time{}, ContactAuthFailed
	s.Members[0].Partitioned = true
	s.Members = append(s.Members,
		MemberState{ID: 0x9999, Name: name + "-learner", Endpoint: fmt.Sprintf("https://10.%d.%d.20:2379", i/250, i%250),
			Learner: true, Up: true, Healthy: true, LastSeen: s.Time, Version: "3.5.16", DBSize: 1 << 30, DBSizeInUse: 1 << 29,
			DBQuota: 2 << 30, RaftTerm: s.RaftTerm, RaftIndex: 150, RaftAppliedIndex: 90, RaftIndexLag: 199000, RaftApplyLag: 60,
			Alarms: []string{"NOSPACE"}},
		MemberState{ID: 0xfeed, Unstarted: true, PeerURLs: []string{"https://10.9.9.9:2380", "https://[fd00::9]:2380"}},
	)
	s.Certs = []CertExpiry{
		{Endpoint: s.Members[0].Endpoint, Role: "server", NotAfter: scrapeAt.Add(90 * 24 * time.Hour)},
		{Endpoint: s.Members[0].Endpoint, Role: "peer", NotAfter: scrapeAt.Add(30 * 24 * time.Hour)},
		{Role: "ca", NotAfter: scrapeAt.Add(3650 * 24 * time.Hour)},
		{Role: "client", NotAfter: scrapeAt.Add(7 * 24 * time.Hour)},
	}
	s.HashKV = &HashKVResult{Time: s.Time, Revision: s.Revision, Consistent: true}
	return s
}

// fleetProbeMetrics fills the probe metrics of a cluster the way an hour of
// probing would: a few hundred latencies per member and operation, spread
// like real ones (log-normal around a per-operation median), so the native
// histograms hold as many buckets as in production; failures and a failed
// round on the degraded clusters.
func fleetProbeMetrics(s *Snapshot, r *rand.Rand, opts ...ProbeMetricsOption) *ProbeMetrics {
	pm := NewProbeMetrics(opts...)
	medians := map[string]float64{OpPut: 0.004, OpGet: 0.0015, OpGetSerializable: 0.0004, OpDelete: 0.004}
	for i := range s.Members {
		m := &s.Members[i]
		if m.Endpoint == "" {
			continue // unstarted: no prober
		}
		for _, op := range []string{OpPut, OpGet, OpGetSerializable, OpDelete} {
			h := pm.duration.WithLabelValues(s.Cluster, m.Label(), m.Endpoint, op)
			for range 300 {
				h.Observe(medians[op] * math.Exp(0.6*r.NormFloat64()))
			}
			if !m.Up {
				pm.failures.WithLabelValues(s.Cluster, m.Label(), m.Endpoint, op, "timeout").Add(float64(1 + r.IntN(20)))
			}
		}
		pm.success.WithLabelValues(s.Cluster, m.Label(), m.Endpoint).Set(b2f(m.Up))
	}
	return pm
}

// testFleet is a hand-built fleet: its snapshots and probe metrics.
type testFleet struct {
	snaps  fixedSnapshots
	probes fleetProbes
}

// newTestFleet builds n clusters with the classic probe buckets of
// --probe.buckets=fleet.
func newTestFleet(n int) *testFleet {
	r := rand.New(rand.NewPCG(1, 2)) // fixed: the same latencies every run
	f := &testFleet{}
	for i := range n {
		s := fleetSnapshot(i)
		f.snaps = append(f.snaps, s)
		f.probes = append(f.probes, fleetProbeMetrics(s, r, WithProbeBuckets(FleetProbeBuckets)))
	}
	return f
}

// registry registers the fleet's collectors in reg.
func (f *testFleet) registry(reg *prometheus.Registry) *prometheus.Registry {
	reg.MustRegister(NewClusterCollector(f.snaps), f.probes)
	return reg
}

// scrapeFormats are the formats a scrape negotiates: the classic text,
// OpenMetrics (Prometheus's default) and protobuf (native histograms).
var scrapeFormats = []struct {
	name, file string
	format     expfmt.Format
}{
	{"text", "scrape.txt", expfmt.NewFormat(expfmt.TypeTextPlain)},
	{"openmetrics", "scrape.om.txt", expfmt.NewFormat(expfmt.TypeOpenMetrics)},
	{"protobuf", "scrape.pb", expfmt.NewFormat(expfmt.TypeProtoDelim)},
}

// encodeScrape writes the fleet in format f into w as internal/server's
// handler does. With stripCreated, the created timestamps of counters and
// histograms (when the test made them, the only values that depend on the
// clock) are dropped before encoding.
func (f *testFleet) encodeScrape(tb testing.TB, sc *Scraper, format expfmt.Format, w io.Writer, stripCreated bool) {
	var each func(*dto.MetricFamily) bool
	if stripCreated {
		each = func(mf *dto.MetricFamily) bool {
			stripCreatedTimestamps(mf)
			return true
		}
	}
	if err := sc.Write(w, format, nil, f.snaps, f.probes, each); err != nil {
		tb.Fatal(err)
	}
}

// registryScrape gathers g and encodes it in format f into w, as promhttp
// does (stripCreated as for encodeScrape).
func registryScrape(tb testing.TB, g prometheus.Gatherer, f expfmt.Format, w io.Writer, stripCreated bool) {
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	enc := expfmt.NewEncoder(w, f)
	for _, mf := range mfs {
		if stripCreated {
			stripCreatedTimestamps(mf)
		}
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

func stripCreatedTimestamps(mf *dto.MetricFamily) {
	for _, m := range mf.Metric {
		// Only where set: a collector may hand out the same message to
		// every scrape.
		if m.Counter.GetCreatedTimestamp() != nil {
			m.Counter.CreatedTimestamp = nil
		}
		if m.Histogram.GetCreatedTimestamp() != nil {
			m.Histogram.CreatedTimestamp = nil
		}
	}
}

// TestScrapeExposition pins the scrape of a healthy and a degraded cluster
// in every format, byte for byte: the collectors may be made cheaper, but
// no series, label or value may change (testdata/scrape.*; the protobuf
// file holds the native histograms, which the text formats do not show).
func TestScrapeExposition(t *testing.T) {
	f := newTestFleet(2)
	var sc Scraper // one for every scrape, as a pooled one is reused
	want := map[string][]byte{}
	for _, sf := range scrapeFormats {
		var buf bytes.Buffer
		f.encodeScrape(t, &sc, sf.format, &buf, true)
		want[sf.file] = buf.Bytes()
		// A second scrape shows the same: nothing is consumed or
		// accumulated by scraping, and the reused arenas hold nothing over.
		var again bytes.Buffer
		f.encodeScrape(t, &sc, sf.format, &again, true)
		if !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Errorf("%s: a second scrape differs at line %d", sf.name, golden.FirstDiffLine(buf.Bytes(), again.Bytes()))
		}
	}
	golden.Files(t, "testdata", want, "", "go test ./collector -run TestScrapeExposition -update")
}

// TestScrapeMatchesRegistry: what /metrics writes without a registry
// is what a pedantic registry of the same collectors gathers (every series
// checked against its descriptor), in every format, up to the order of the
// series within a family (the registry sorts them by label values, the
// writer keeps the configuration's order). 60 clusters: three degraded.
func TestScrapeMatchesRegistry(t *testing.T) {
	f := newTestFleet(60)
	reg := f.registry(prometheus.NewPedanticRegistry())
	var sc Scraper
	for _, sf := range scrapeFormats {
		var ours, theirs bytes.Buffer
		f.encodeScrape(t, &sc, sf.format, &ours, true)
		registryScrape(t, reg, sf.format, &theirs, true)
		if sf.name == "protobuf" {
			a, b := decodeSorted(t, ours.Bytes()), decodeSorted(t, theirs.Bytes())
			if len(a) != len(b) {
				t.Fatalf("protobuf: %d families, the registry's %d", len(a), len(b))
			}
			for i := range a {
				if !proto.Equal(a[i], b[i]) {
					t.Errorf("protobuf: family %s differs from the registry's", a[i].GetName())
				}
			}
			continue
		}
		a, b := sortedLines(ours.String()), sortedLines(theirs.String())
		if !slices.Equal(a, b) {
			for _, l := range a {
				if !slices.Contains(b, l) {
					t.Errorf("%s: only written without the registry: %q", sf.name, l)
					break
				}
			}
			for _, l := range b {
				if !slices.Contains(a, l) {
					t.Errorf("%s: only gathered by the registry: %q", sf.name, l)
					break
				}
			}
			t.Errorf("%s: %d lines, the registry's %d", sf.name, len(a), len(b))
		}
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return lines
}

// decodeSorted reads a delimited protobuf scrape, families sorted by name
// and each family's series by label values.
func decodeSorted(t *testing.T, b []byte) []*dto.MetricFamily {
	t.Helper()
	var out []*dto.MetricFamily
	dec := expfmt.NewDecoder(bytes.NewReader(b), expfmt.NewFormat(expfmt.TypeProtoDelim))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(mf.Metric, func(x, y *dto.Metric) int {
			return strings.Compare(fmt.Sprint(x.Label), fmt.Sprint(y.Label))
		})
		out = append(out, mf)
	}
	slices.SortFunc(out, func(x, y *dto.MetricFamily) int { return strings.Compare(x.GetName(), y.GetName()) })
	return out
}

// BenchmarkScrape writes the scrape of 1,000 clusters of 3 members as
// /metrics does (docs/performance.md, "Scraping a fleet"); the registry-*
// runs gather the same collectors through a registry and encode them as
// promhttp does, which is what /metrics did until 27 Nov 2026.
func BenchmarkScrape(b *testing.B) {
	f := newTestFleet(1000)
	var sc Scraper
	for _, sf := range scrapeFormats {
		b.Run(sf.name, func(b *testing.B) {
			benchScrapes(b, func(buf *bytes.Buffer) { f.encodeScrape(b, &sc, sf.format, buf, false) })
		})
	}
	reg := f.registry(prometheus.NewRegistry())
	for _, sf := range scrapeFormats {
		b.Run("registry-"+sf.name, func(b *testing.B) {
			benchScrapes(b, func(buf *bytes.Buffer) { registryScrape(b, reg, sf.format, buf, false) })
		})
	}
	// What Prometheus asks for: OpenMetrics, gzipped. promhttp compresses
	// at gzip's default level; serve at BestSpeed (internal/server/gzip.go).
	for _, z := range []struct {
		name  string
		level int
	}{{"openmetrics-gzip", gzip.DefaultCompression}, {"openmetrics-gzip-bestspeed", gzip.BestSpeed}} {
		b.Run(z.name, func(b *testing.B) {
			zw, err := gzip.NewWriterLevel(nil, z.level)
			if err != nil {
				b.Fatal(err)
			}
			benchScrapes(b, func(buf *bytes.Buffer) {
				zw.Reset(buf)
				f.encodeScrape(b, &sc, expfmt.NewFormat(expfmt.TypeOpenMetrics), zw, false)
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// benchScrapes runs one scrape into a buffer per iteration and reports,
// besides time and allocations, the CPU time per scrape (the garbage
// collector's included: on a loaded machine it varies far less than
// ns/op) and the size of a scrape.
func benchScrapes(b *testing.B, once func(*bytes.Buffer)) {
	var buf bytes.Buffer
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		buf.Reset()
		once(&buf)
	}
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(buf.Len()), "bytes/scrape")
}
