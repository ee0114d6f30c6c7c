package status

import (
	"cmp"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// The fleet view: one compact line per cluster, for a monitor that watches
// hundreds or thousands of them. GET /api/v1/clusters and the status page's
// table render it. A Summary reads only the cluster's latest snapshot (not
// its probe windows, which cost a percentile computation per member), so
// summarising a thousand clusters stays cheap enough for every page load.

// Summary is one cluster in GET /api/v1/clusters: its state and the worst of
// its problems; GET /api/v1/cluster/status?cluster=NAME has the rest.
type Summary struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Problem is the worst problem ("" when none); ProblemCount counts
	// them all.
	Problem        string `json:"problem"`
	ProblemCount   int    `json:"problem_count"`
	Members        int    `json:"members"`
	HealthyMembers int    `json:"healthy_members"`
	// Leader names the leader ("" when there is none).
	Leader    string     `json:"leader"`
	LastCheck *time.Time `json:"last_check"`
	// LastCheckAge is seconds since the last finished check, to 0.1 s;
	// nil before the first.
	LastCheckAge *float64 `json:"last_check_age_seconds"`
	// Fresh is false when no check has finished within three check
	// intervals (and 30 s): the monitor has stopped learning about the
	// cluster, whatever its state says.
	Fresh bool `json:"fresh"`
}

// Counts are the clusters in each state.
type Counts struct {
	Healthy     int `json:"healthy"`
	Degraded    int `json:"degraded"`
	Unavailable int `json:"unavailable"`
	Unknown     int `json:"unknown"`
}

// Of is the count of one state.
func (c Counts) Of(state string) int {
	switch state {
	case StateHealthy:
		return c.Healthy
	case StateDegraded:
		return c.Degraded
	case StateUnavailable:
		return c.Unavailable
	}
	return c.Unknown
}

func (c *Counts) add(state string) {
	switch state {
	case StateHealthy:
		c.Healthy++
	case StateDegraded:
		c.Degraded++
	case StateUnavailable:
		c.Unavailable++
	default:
		c.Unknown++
	}
}

// States lists the states worst first, the order of the fleet view.
var States = []string{StateUnavailable, StateDegraded, StateUnknown, StateHealthy}

// StateUnhealthy is the filter for every state but healthy: what an
// operator looks at first (unknown included: not known to be healthy).
const StateUnhealthy = "unhealthy"

// Fresh reports whether a check finished at last is recent for a cluster
// checked every interval: within three intervals, and never less than 30 s
// so that a short interval does not flap on one slow round.
func Fresh(last time.Time, interval time.Duration, now time.Time) bool {
	if last.IsZero() {
		return false
	}
	return now.Sub(last) <= max(3*interval, 30*time.Second)
}

// Summarize is one cluster's line at now.
func Summarize(src Source, now time.Time) Summary {
	sum := Summary{Name: src.Name(), State: StateUnknown}
	s := src.Snapshot()
	if s == nil {
		sum.Problem, sum.ProblemCount = "no check has finished yet", 1
		return sum
	}
	state, problems := judge(s)
	sum.State, sum.ProblemCount = state, len(problems)
	if len(problems) > 0 {
		sum.Problem = problems[0]
	}
	sum.Members, sum.HealthyMembers = s.VotingMembers, s.HealthyVoting
	if l := s.Leader(); l != nil {
		sum.Leader = l.Label()
	} else if s.HasLeader && s.LeaderID != 0 {
		sum.Leader = collector.IDHex(s.LeaderID)
	}
	sum.LastCheck = TimePtr(s.Time)
	if !s.Time.IsZero() {
		age := math.Round(max(now.Sub(s.Time), 0).Seconds()*10) / 10
		sum.LastCheckAge = &age
	}
	sum.Fresh = Fresh(s.Time, src.Config().HealthCheckInterval, now)
	return sum
}

// Filter selects clusters by name and state; the zero Filter selects all.
type Filter struct {
	// Name is a case-insensitive substring of the cluster name or, when
	// it holds a glob character (* ? [), a glob over the whole name
	// (path.Match syntax: "prod-*", "tenant-??-eu").
	Name string
	// States lists the states to keep; empty keeps every state.
	States []string
}

// ParseFilter validates the name and state parameters of the fleet view:
// state is a comma-separated list of healthy, degraded, unavailable,
// unknown or unhealthy (all but healthy). The error says what is wrong, for
// a 400 answer.
func ParseFilter(name, state string) (Filter, error) {
	f := Filter{Name: strings.ToLower(strings.TrimSpace(name))}
	if f.isGlob() {
		if _, err := path.Match(f.Name, ""); err != nil {
			return Filter{}, fmt.Errorf("name %q: not a valid glob (%v)", name, err)
		}
	}
	for _, st := range strings.Split(state, ",") {
		st = strings.ToLower(strings.TrimSpace(st))
		switch {
		case st == "":
		case st == StateUnhealthy:
			f.States = appendNew(f.States, StateUnavailable, StateDegraded, StateUnknown)
		case slices.Contains(States, st):
			f.States = appendNew(f.States, st)
		default:
			return Filter{}, fmt.Errorf("state %q: want healthy, degraded, unavailable, unknown or unhealthy (comma-separated for several)", st)
		}
	}
	return f, nil
}

func appendNew(to []string, states ...string) []string {
	for _, s := range states {
		if !slices.Contains(to, s) {
			to = append(to, s)
		}
	}
	return to
}

func (f Filter) isGlob() bool { return strings.ContainsAny(f.Name, "*?[") }

// Active reports whether the filter leaves anything out.
func (f Filter) Active() bool { return f.Name != "" || len(f.States) > 0 }

// MatchName reports whether a cluster name passes the name filter.
func (f Filter) MatchName(name string) bool {
	if f.Name == "" {
		return true
	}
	name = strings.ToLower(name)
	if f.isGlob() {
		ok, _ := path.Match(f.Name, name) // validated by ParseFilter
		return ok
	}
	return strings.Contains(name, f.Name)
}

// Fleet is the fleet view: counts over every watched cluster, and the
// clusters the filter keeps, worst first, then by name.
type Fleet struct {
	Total    int       `json:"total"`
	Counts   Counts    `json:"counts"`
	Matched  int       `json:"matched"`
	Clusters []Summary `json:"-"`
}

// BuildFleet summarises every source at now and keeps those f selects.
func BuildFleet(srcs []Source, f Filter, now time.Time) Fleet {
	fl := Fleet{Total: len(srcs), Clusters: []Summary{}}
	for _, src := range srcs {
		sum := Summarize(src, now)
		fl.Counts.add(sum.State)
		if !f.MatchName(sum.Name) || (len(f.States) > 0 && !slices.Contains(f.States, sum.State)) {
			continue
		}
		fl.Clusters = append(fl.Clusters, sum)
	}
	slices.SortFunc(fl.Clusters, func(a, b Summary) int {
		if c := cmp.Compare(rank[b.State], rank[a.State]); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	fl.Matched = len(fl.Clusters)
	return fl
}

// Worst is the worst state among the counts: healthy when every cluster
// is, unknown when there is none.
func (c Counts) Worst() string {
	for _, st := range States {
		if c.Of(st) > 0 {
			return st
		}
	}
	return StateUnknown
}
