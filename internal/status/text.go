package status

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
)

// The functions below turn the status view into the words people read. The
// status page and the `check` command both print them, so a table in a
// terminal and the page in a browser never phrase the same fact differently. They return "" for
// what is not known (a down member has no DB size); each surface shows its
// own placeholder for that.

// QuorumText is e.g. "quorum 2 of 3, tolerates 1 failure", or what is
// missing when the cluster has no quorum.
func QuorumText(cs ClusterStatus) string {
	if cs.State == StateUnknown || cs.MemberCount == 0 {
		return "quorum unknown"
	}
	if !anyUp(cs.Members) {
		// The member count is only the configured endpoints: no member
		// list was read, so any arithmetic would be invented.
		return "quorum unknown: no member reachable"
	}
	learners := ""
	if cs.LearnerCount > 0 {
		learners = fmt.Sprintf(" (+%d %s)", cs.LearnerCount, plural(cs.LearnerCount, "learner", "learners"))
	}
	if cs.Quorum == string(collector.QuorumElecting) {
		return fmt.Sprintf("ELECTING: %d of %d %s answer, no leader yet", upVoting(cs), cs.MemberCount,
			plural(cs.MemberCount, "member", "members"))
	}
	if !cs.HasQuorum {
		return fmt.Sprintf("NO QUORUM: %d of %d %s healthy%s, %d needed", cs.HealthyMembers, cs.MemberCount,
			plural(cs.MemberCount, "member", "members"), learners, cs.QuorumSize)
	}
	return fmt.Sprintf("quorum %d of %d%s, tolerates %d %s", cs.QuorumSize, cs.MemberCount, learners,
		cs.FailureTolerance, plural(cs.FailureTolerance, "failure", "failures"))
}

// StateText is the cluster state in capitals, so it reads without colour.
func StateText(state string) string { return strings.ToUpper(state) }

// LeaderText names the leader, or says there is none.
func LeaderText(cs ClusterStatus) string {
	switch {
	case cs.LeaderName != "":
		return cs.LeaderName
	case cs.LeaderIDHex != "":
		return cs.LeaderIDHex
	}
	return "none"
}

// AlarmsText lists active alarms as "NOSPACE on m1", or "none".
func AlarmsText(cs ClusterStatus) string {
	if len(cs.Alarms) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(cs.Alarms))
	for _, a := range cs.Alarms {
		parts = append(parts, a.Alarm+" on "+a.Member)
	}
	return strings.Join(parts, ", ")
}

// MemberStatusText is one word for a member's health, worst first:
// DOWN (no Status answer), UNREACHABLE (refuses the monitor: credentials or
// TLS), UNHEALTHY (answers but cannot serve a read),
// PARTITIONED, or UP. Alarms follow it ("UP NOSPACE").
func MemberStatusText(m MemberStatus) string {
	s := "UP"
	switch {
	case !m.Up && m.Contact != "":
		s = "UNREACHABLE"
	case !m.Up:
		s = "DOWN"
	case !m.Healthy:
		s = "UNHEALTHY"
	case m.Partitioned:
		s = "PARTITIONED"
	}
	for _, a := range m.Alarms {
		s += " " + a
	}
	return s
}

// RoleText is leader, follower or learner; "" for a down voting member,
// whose role nobody can tell.
func RoleText(m MemberStatus) string {
	switch {
	case m.Learner:
		return "learner"
	case m.Leader:
		return "leader"
	case m.Up:
		return "follower"
	}
	return ""
}

// DBText is e.g. "12.3 MiB of 2.0 GiB (1%)": the physical size, which is
// what the quota (and so the NOSPACE alarm) counts.
func DBText(m MemberStatus) string {
	if !m.Up {
		return ""
	}
	if m.DBQuota <= 0 {
		return bytesize.Format(m.DBSize)
	}
	return fmt.Sprintf("%s of %s (%d%%)", bytesize.Format(m.DBSize), bytesize.Format(m.DBQuota), DBPercent(m))
}

// DBPercent is the DB size as a rounded percentage of the quota.
func DBPercent(m MemberStatus) int {
	if m.DBQuota <= 0 {
		return 0
	}
	return int(math.Round(100 * float64(m.DBSize) / float64(m.DBQuota)))
}

// LagText is the raft index lag behind the leader, in entries.
func LagText(m MemberStatus) string {
	if !m.Up {
		return ""
	}
	return strconv.FormatUint(m.RaftIndexLag, 10)
}

// P99Text is the probe read latency p99, e.g. "1.25 ms".
func P99Text(m MemberStatus) string {
	if m.ProbeP99Ms == nil {
		return ""
	}
	return Millis(*m.ProbeP99Ms)
}

// Millis prints milliseconds with the precision that matters at each scale.
func Millis(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// Ago is a coarse age ("5s ago", "3m ago", "2h10m ago", "4d ago"): exact
// times go next to it where there is room.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) - 60*h; m > 0 {
			return fmt.Sprintf("%dh%dm ago", h, m)
		}
		return fmt.Sprintf("%dh ago", h)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func anyUp(ms []MemberStatus) bool {
	for _, m := range ms {
		if m.Up {
			return true
		}
	}
	return false
}

// upVoting counts the voting members that answered.
func upVoting(cs ClusterStatus) int {
	n := 0
	for _, m := range cs.Members {
		if m.Up && !m.Learner {
			n++
		}
	}
	return n
}
