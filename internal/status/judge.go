package status

import "github.com/etcd-monitor/etcd-monitor/collector"

// judge decides the overall state and lists what is wrong, worst first.
func judge(s *collector.Snapshot) (string, []string) {
	problems := []string{}
	state := StateHealthy
	worse := func(st, p string) {
		problems = append(problems, p)
		if st == StateUnavailable || state == StateHealthy {
			state = st
		}
	}
	switch {
	case !s.Success && refusedAll(s):
		worse(StateUnavailable, "no member lets the monitor in: "+contactText(s.Members[0].Contact))
	case !s.Success:
		worse(StateUnavailable, "no member could be reached")
	case s.Quorum == collector.QuorumElecting:
		// An election is not a quorum loss: a quorum answers and will
		// elect a leader within a few election timeouts.
		worse(StateDegraded, "electing a leader: a quorum of members answers, no leader yet")
	case !s.HasQuorum:
		worse(StateUnavailable, "quorum lost: fewer than a quorum of members can serve a linearizable read")
	}
	if s.Success && !s.HasLeader && s.Quorum != collector.QuorumElecting {
		worse(StateDegraded, "no leader")
	}
	if s.SplitBrain {
		worse(StateDegraded, "split brain: members name different leaders")
	}
	for _, m := range s.Members {
		switch {
		case !m.Up && m.Contact != "":
			worse(StateDegraded, "member "+m.Label()+" refuses the monitor: "+contactText(m.Contact))
		case !m.Up:
			worse(StateDegraded, "member "+m.Label()+" is down")
		case !m.Healthy:
			worse(StateDegraded, "member "+m.Label()+" cannot serve reads")
		case m.Partitioned:
			worse(StateDegraded, "member "+m.Label()+" is partitioned")
		}
		for _, a := range m.Alarms {
			worse(StateDegraded, "alarm "+a+" on member "+m.Label())
		}
	}
	if s.HasQuorum && s.FailureTolerance == 0 && s.VotingMembers > 1 {
		problems = append(problems, "no failure tolerance: one more member lost ends quorum")
		if state == StateHealthy {
			state = StateDegraded
		}
	}
	if s.HashKV != nil && !s.HashKV.Consistent {
		worse(StateDegraded, "members' KV hashes differ")
	}
	return state, problems
}

// refusedAll: every member refused the monitor, so nothing is known about
// the cluster except that the monitor's credentials or TLS settings are wrong.
func refusedAll(s *collector.Snapshot) bool {
	for _, m := range s.Members {
		if m.Contact == "" {
			return false
		}
	}
	return len(s.Members) > 0
}

// contactText says what the monitor must fix when a member refuses it.
func contactText(contact string) string {
	switch contact {
	case collector.ContactAuthFailed:
		return "authentication failed (check --etcd.username and the password file)"
	case collector.ContactTLSMismatch:
		return "TLS mismatch (check the CA bundle and the client certificate)"
	}
	return contact
}
