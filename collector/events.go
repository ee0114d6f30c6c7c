package collector

import (
	"log/slog"
	"strings"
	"sync"
)

// eventLog logs what changed between rounds, once per change: a dead member
// produces one line, not one per round.
type eventLog struct {
	logger *slog.Logger

	mu           sync.Mutex
	wasOK        map[string]bool
	wasSplit     bool
	wasPartition map[uint64]bool
	wasQuorum    QuorumState
}

func newEventLog(logger *slog.Logger) *eventLog {
	return &eventLog{logger: logger, wasOK: map[string]bool{}, wasPartition: map[uint64]bool{}}
}

// once logs msg when a condition identified by key changes state.
func (l *eventLog) once(key string, ok bool, msg string, args ...any) {
	prev, seen := l.wasOK[key]
	l.wasOK[key] = ok
	if seen && prev == ok || !seen && ok {
		return
	}
	if ok {
		l.logger.Info(msg, args...)
	} else {
		l.logger.Warn(msg, args...)
	}
}

// round logs the changes a published round shows.
func (l *eventLog) round(s *Snapshot, ev events, res roundResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if res.haveList {
		l.once("memberlist", true, "member list available again")
	} else {
		l.once("memberlist", false, "no member answered the member list", "err", res.listErr)
	}
	for _, m := range s.Members {
		key := "member/" + m.Label()
		switch {
		case m.Up:
			l.once(key, true, "member is up", "member", m.Label(), "endpoint", m.Endpoint)
		case m.Contact == ContactAuthFailed:
			l.once(key, false, "member refuses the monitor's credentials (it may well be up)", "member", m.Label(), "endpoint", m.Endpoint, "err", m.Err)
		case m.Contact == ContactTLSMismatch:
			l.once(key, false, "TLS handshake with member failed (it may well be up): check the CA and certificates", "member", m.Label(), "endpoint", m.Endpoint, "err", m.Err)
		default:
			l.once(key, false, "member is down", "member", m.Label(), "endpoint", m.Endpoint, "err", m.Err)
		}
		if m.Up {
			hkey := "healthy/" + m.Label()
			if m.Healthy {
				l.once(hkey, true, "member serves reads again", "member", m.Label())
			} else {
				l.once(hkey, false, "member is up but cannot serve a read", "member", m.Label(), "err", m.Err)
			}
		}
		if m.Partitioned != l.wasPartition[m.ID] {
			l.wasPartition[m.ID] = m.Partitioned
			if m.Partitioned {
				l.logger.Warn("member looks partitioned from the raft group", "member", m.Label(), "leader", m.Leader, "raft_term", m.RaftTerm, "raft_index_lag", m.RaftIndexLag)
			} else {
				l.logger.Info("member rejoined the raft group", "member", m.Label())
			}
		}
	}
	if s.Quorum != l.wasQuorum {
		switch s.Quorum {
		case QuorumElecting:
			l.logger.Warn("no leader yet: a quorum of members answers, an election is under way", "healthy", s.HealthyVoting, "quorum_size", s.QuorumSize)
		case QuorumLost:
			l.logger.Error("quorum lost: too few members serve linearizable reads", "healthy", s.HealthyVoting, "quorum_size", s.QuorumSize)
		case QuorumOK:
			if l.wasQuorum != "" {
				l.logger.Info("quorum available", "healthy", s.HealthyVoting, "quorum_size", s.QuorumSize)
			}
		}
		l.wasQuorum = s.Quorum
	}
	if ev.leaderChange != nil {
		lc := ev.leaderChange
		l.logger.Warn("leader changed", "from", lc.FromName, "to", lc.ToName, "raft_term", lc.Term)
	}
	for _, m := range ev.added {
		l.logger.Warn("member added", "member", m.Label(), "member_id", IDHex(m.ID), "peer_urls", strings.Join(m.PeerURLs, ","), "learner", m.Learner)
	}
	for _, label := range ev.removed {
		l.logger.Warn("member removed", "member", label)
	}
	if s.SplitBrain != l.wasSplit {
		l.wasSplit = s.SplitBrain
		if s.SplitBrain {
			l.logger.Error("split brain: reachable members name different leaders")
		} else {
			l.logger.Info("members agree on the leader again")
		}
	}
}

// probeLog logs a probe failure when its reason changes, so a read-only
// user sees "permission denied" once, not every five seconds.
type probeLog struct {
	logger *slog.Logger
	prefix string

	mu     sync.Mutex
	logged map[string]string
}

func newProbeLog(logger *slog.Logger, prefix string) *probeLog {
	return &probeLog{logger: logger, prefix: prefix, logged: map[string]string{}}
}

func (l *probeLog) failed(member, op, reason string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := member + "/" + op
	if reason == "permission_denied" {
		// The same credentials go to every member: one line says it all.
		key = reason
	}
	if l.logged[key] == reason {
		return
	}
	l.logged[key] = reason
	msg := "probe failed"
	if reason == "permission_denied" && (op == OpPut || op == OpDelete) {
		msg = "write probe not permitted: grant the monitor's role readwrite on the probe prefix, or run with --no-probe.write"
	}
	l.logger.Warn(msg, "member", member, "operation", op, "reason", reason, "key_prefix", l.prefix, "err", err)
}

// cleared forgets the logged reason once an operation succeeds again, so
// the next failure is logged.
func (l *probeLog) cleared(member, op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.logged, member+"/"+op)
	if op == OpPut {
		// A put that succeeds proves write permission: a later denial
		// (a role changed) is news again.
		delete(l.logged, "permission_denied")
	}
}
