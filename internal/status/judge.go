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
	if !s.Success {
		worse(StateUnavailable, "no member could be reached")
	} else if !s.HasQuorum {
		worse(StateUnavailable, "quorum lost: no member can serve a linearizable read")
	}
	if s.Success && !s.HasLeader {
		worse(StateDegraded, "no leader")
	}
	if s.SplitBrain {
		worse(StateDegraded, "split brain: members name different leaders")
	}
	for _, m := range s.Members {
		switch {
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
