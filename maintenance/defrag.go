package maintenance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// ErrInterrupted is wrapped by the error of a run stopped by its context
// between two members.
var ErrInterrupted = errors.New("interrupted")

// DefaultMinFreeBytes is --min-free-bytes' default.
const DefaultMinFreeBytes = 100 << 20

// healthPoll is the pause between health rounds while waiting for a member
// to serve again after its defragmentation.
const healthPoll = 200 * time.Millisecond

// DefragOptions configure a rolling defragmentation.
type DefragOptions struct {
	Rule Rule
	// DryRun prints the plan and the safety verdict and changes nothing.
	DryRun bool
	// Compact compacts the keyspace to the current revision minus
	// KeepRevisions before defragmenting, so the free pages exist.
	Compact       bool
	KeepRevisions int64
	// DisarmNoSpace disarms NOSPACE alarms of members whose database is back
	// under their quota at the end.
	DisarmNoSpace bool
	// DefragTimeout bounds each member's defragmentation and the compaction:
	// a large database takes minutes, far longer than a request timeout.
	DefragTimeout time.Duration
	// HealthTimeout bounds the wait for a member to serve again afterwards.
	HealthTimeout time.Duration
	// QuotaBackendBytes is assumed for members whose Status does not report
	// their quota (etcd before 3.6); it decides whether NOSPACE can go.
	QuotaBackendBytes int64
	// ClusterName is the etcd_cluster label of the run's logs.
	ClusterName string
	// BeforeMember, when set, is called once a member passed its checks and
	// right before its defragmentation starts.
	BeforeMember func(member string)
}

// DefaultDefragOptions are the command's defaults.
func DefaultDefragOptions() DefragOptions {
	return DefragOptions{
		Rule:              Rule{MinFreeBytes: DefaultMinFreeBytes},
		DefragTimeout:     5 * time.Minute,
		HealthTimeout:     time.Minute,
		QuotaBackendBytes: collector.DefaultQuotaBackendBytes,
		ClusterName:       "default",
	}
}

// Validate returns a UsageError naming the flag for bad options.
func (o DefragOptions) Validate() error {
	switch {
	case o.Rule.MinFreeBytes < 0:
		return cli.Usagef("--min-free-bytes: must not be negative, got %d", o.Rule.MinFreeBytes)
	case o.Rule.MinFreeRatio < 0 || o.Rule.MinFreeRatio >= 1:
		return cli.Usagef("--min-free-ratio: want a share from 0 up to (not including) 1, got %g", o.Rule.MinFreeRatio)
	case o.Rule.MinFreeBytes == 0 && o.Rule.MinFreeRatio == 0 && !o.Rule.All:
		return cli.Usagef("--min-free-bytes and --min-free-ratio are both 0, which selects every member however little it would free; pass --force to mean that")
	case o.KeepRevisions < 0:
		return cli.Usagef("--keep-revisions: must not be negative, got %d", o.KeepRevisions)
	case o.DefragTimeout <= 0:
		return cli.Usagef("--defrag-timeout: must be positive, got %s", o.DefragTimeout)
	case o.HealthTimeout <= 0:
		return cli.Usagef("--wait-healthy-timeout: must be positive, got %s", o.HealthTimeout)
	}
	return nil
}

// DefragReport is what a run did.
type DefragReport struct {
	DryRun     bool
	Compaction *CompactionResult
	// Members in the order they were handled; in a dry run, the plan.
	Members []MemberResult
	// NotStarted lists the members left when the run stopped early.
	NotStarted []string
	Alarms     []AlarmResult
	Took       time.Duration
}

// Freed is the total of bytes given back.
func (r *DefragReport) Freed() int64 {
	var n int64
	for _, m := range r.Members {
		n += m.Freed
	}
	return n
}

// Action is what happened to a member.
type Action string

// Actions of a MemberResult.
const (
	ActionDefragmented Action = "defragmented"
	ActionSkipped      Action = "skipped"
	ActionPlanned      Action = "would defragment"
	ActionFailed       Action = "failed"
)

// MemberResult is one member's part of the run.
type MemberResult struct {
	Name     string
	ID       uint64
	Endpoint string
	// Leader: the member led the cluster when it was handled.
	Leader bool
	Action Action
	Reason string

	SizeBefore, InUseBefore int64
	SizeAfter, InUseAfter   int64
	// Freed is SizeBefore minus SizeAfter, never below 0.
	Freed int64
	// Took is the defragmentation call; WaitedHealthy the time until the
	// member served a linearizable read again.
	Took          time.Duration
	WaitedHealthy time.Duration
}

// CompactionResult is the optional compaction before the defragmentation.
type CompactionResult struct {
	CurrentRevision int64
	Revision        int64 // compacted to; 0 when nothing was to compact
	Note            string
	Took            time.Duration
}

// AlarmResult is a NOSPACE alarm considered at the end of the run.
type AlarmResult struct {
	Member   string
	Disarmed bool
	Reason   string
}

// Defrag defragments the members of the cluster that conn reaches, one at a
// time, followers first and the leader last. Every member is checked right
// before it starts and must serve again before the next one starts. A
// cancelled ctx stops the run between members, never during one: etcd goes
// on defragmenting whatever the client does, and a run that stopped waiting
// would start the next member while this one is still blocked.
func Defrag(ctx context.Context, conn *etcdconn.Config, opts DefragOptions, out io.Writer, logger *slog.Logger) (*DefragReport, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.DisarmNoSpace {
		opts.Rule.NoSpace = true
	}
	start := time.Now()
	rep := &DefragReport{DryRun: opts.DryRun}
	defer func() { rep.Took = time.Since(start) }()

	ch := collector.NewChecker(collector.ClusterConfig{
		Name: opts.ClusterName, Conn: conn, HealthCheckInterval: 5 * time.Second, QuotaBackendBytes: opts.QuotaBackendBytes,
	}, logger)
	defer ch.Close()
	client, err := conn.New()
	if err != nil {
		return rep, err
	}
	defer client.Close()

	s := ch.CheckOnce(ctx)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("%w before starting: %w", ErrInterrupted, ctx.Err())
	}
	if !s.Success {
		return rep, &cli.ExitError{Code: cli.ExitUnreachable, Err: fmt.Errorf("no member of the cluster answered (%s)", unhealthy(s, nil))}
	}
	plan := order(s)
	selected := printPlan(out, s, plan, opts)

	if len(selected) == 0 && !opts.Compact {
		fmt.Fprintln(out, "Nothing to do: no member qualifies.")
		return rep, nil
	}
	// Refuse before changing anything (the compaction included) when a
	// member the run may defragment could not be spared now. Members that
	// do not serve are not judged here: they are skipped when their turn
	// comes, and they count against the others' checks.
	if err := checkCluster(s); err != nil {
		return rep, err
	}
	for _, id := range plan {
		m := memberByID(s, id)
		if !m.Healthy || !selected[id] && !opts.Compact {
			continue
		}
		if err := checkMember(s, m); err != nil {
			return rep, err
		}
	}

	if opts.DryRun {
		for _, id := range plan {
			m := memberByID(s, id)
			r := memberResult(s, m)
			r.Action = ActionSkipped
			if selected[id] {
				r.Action = ActionPlanned
			}
			_, r.Reason = opts.Rule.Needs(m)
			rep.Members = append(rep.Members, r)
		}
		if opts.Compact {
			rev := s.Revision - opts.KeepRevisions
			fmt.Fprintf(out, "Would compact to revision %d (current %d minus --keep-revisions %d); members are judged again after it.\n", max(rev, 0), s.Revision, opts.KeepRevisions)
		}
		fmt.Fprintln(out, "Dry run: nothing changed.")
		return rep, nil
	}

	if opts.Compact {
		c, err := compact(ctx, client, conn, opts)
		rep.Compaction = c
		if err != nil {
			return rep, err
		}
		fmt.Fprintf(out, "Compaction: %s\n", c.Note)
		if c.Revision != 0 {
			if err := settleFreePages(ctx, client, conn); err != nil {
				// Only the figures lag; defragmenting still frees the pages.
				logger.Info("could not make members count the pages the compaction freed; the rule sees older figures", "err", err)
			}
		}
	}

	done := map[uint64]bool{}
	var unserved []string
	for {
		if ctx.Err() != nil {
			rep.Took = time.Since(start)
			return rep, interrupted(out, rep, plan, done, s, ctx.Err())
		}
		s = ch.CheckOnce(ctx)
		if ctx.Err() != nil {
			rep.Took = time.Since(start)
			return rep, interrupted(out, rep, plan, done, s, ctx.Err())
		}
		id, ok := next(plan, done, s)
		if !ok {
			break
		}
		done[id] = true
		m := memberByID(s, id)
		if m == nil {
			fmt.Fprintf(out, "%s: no longer in the member list, skipped\n", collector.IDHex(id))
			continue
		}
		if !m.Healthy {
			// Its free space is unknown or it cannot serve: nothing to do
			// for it now, and the others' checks count it as a failure.
			r := memberResult(s, m)
			r.Action, r.Reason = ActionSkipped, "not serving: "+m.Err
			rep.Members = append(rep.Members, r)
			unserved = append(unserved, m.Label())
			fmt.Fprintf(out, "%s: skipped, not serving (%s)\n", m.Label(), m.Err)
			continue
		}
		// Judged on fresh numbers: a compaction just freed pages, or
		// writes since the plan used some.
		if need, why := opts.Rule.Needs(m); !need {
			r := memberResult(s, m)
			r.Action, r.Reason = ActionSkipped, why
			rep.Members = append(rep.Members, r)
			fmt.Fprintf(out, "%s: skipped, %s\n", m.Label(), why)
			continue
		}
		if err := checkMember(s, m); err != nil {
			done[id] = false
			rep.NotStarted = remaining(plan, done, s)
			return rep, err
		}
		if opts.BeforeMember != nil {
			opts.BeforeMember(m.Label())
		}
		r, err := defragOne(ctx, client, ch, s, m, opts, out, logger)
		rep.Members = append(rep.Members, r)
		if err != nil {
			rep.NotStarted = remaining(plan, done, s)
			return rep, err
		}
	}

	if opts.DisarmNoSpace {
		alarms, err := disarmNoSpace(ctx, client, ch, conn, out)
		rep.Alarms = alarms
		if err != nil {
			return rep, err
		}
	}
	rep.Took = time.Since(start)
	printSummary(out, rep)
	if len(unserved) > 0 {
		return rep, fmt.Errorf("not defragmented, not serving: %s", strings.Join(unserved, ", "))
	}
	return rep, nil
}

func memberResult(s *collector.Snapshot, m *collector.MemberState) MemberResult {
	return MemberResult{
		Name: m.Label(), ID: m.ID, Endpoint: m.Endpoint,
		Leader:     s.HasLeader && s.LeaderID == m.ID,
		SizeBefore: m.DBSize, InUseBefore: m.DBSizeInUse,
		SizeAfter: m.DBSize, InUseAfter: m.DBSizeInUse,
	}
}

// printPlan shows every member in plan order with the rule's verdict and
// returns the selected ones.
func printPlan(out io.Writer, s *collector.Snapshot, plan []uint64, opts DefragOptions) map[uint64]bool {
	selected := map[uint64]bool{}
	fmt.Fprintln(out, "Plan (one member at a time, followers first, the leader last):")
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, id := range plan {
		m := memberByID(s, id)
		role := "follower"
		switch {
		case m.Learner:
			role = "learner"
		case s.HasLeader && s.LeaderID == id:
			role = "leader"
		}
		verdict := "down: " + m.Err
		if m.Up {
			need, why := opts.Rule.Needs(m)
			verdict = "skip: " + why
			if need {
				selected[id] = true
				verdict = "defragment: " + why
			}
			if len(m.Alarms) > 0 {
				verdict += ", alarms " + strings.Join(m.Alarms, ",")
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Label(), m.Endpoint, role, verdict)
	}
	_ = tw.Flush()
	return selected
}

// defragOne defragments m and waits until it serves again. Neither step
// listens to ctx: once a member has started, the run sees it through.
func defragOne(ctx context.Context, client *clientv3.Client, ch *collector.Checker, s *collector.Snapshot, m *collector.MemberState,
	opts DefragOptions, out io.Writer, logger *slog.Logger) (MemberResult, error) {
	r := memberResult(s, m)
	fmt.Fprintf(out, "%s: defragmenting (%s, %s in use)...\n", m.Label(), bytesize.Format(m.DBSize), bytesize.Format(m.DBSizeInUse))
	logger.Info("defragmenting member", "member", m.Label(), "endpoint", m.Endpoint, "leader", r.Leader, "db_size", m.DBSize, "db_size_in_use", m.DBSizeInUse)
	own := context.WithoutCancel(ctx)

	dctx, cancel := context.WithTimeout(own, opts.DefragTimeout)
	t0 := time.Now()
	_, err := client.Defragment(dctx, m.Endpoint)
	cancel()
	r.Took = time.Since(t0)
	if err != nil {
		r.Action, r.Reason = ActionFailed, err.Error()
		fmt.Fprintf(out, "%s: defragmentation failed after %s: %v\n", m.Label(), r.Took.Round(time.Millisecond), err)
		// A timed-out defragmentation goes on inside etcd: going on to the
		// next member could block two at once.
		return r, fmt.Errorf("defragmenting %s (%s): %w; stopping here, check the member before going on", m.Label(), m.Endpoint, err)
	}

	after, waited, err := waitHealthy(own, ch, m.ID, opts.HealthTimeout)
	r.WaitedHealthy = waited
	if after != nil {
		r.SizeAfter, r.InUseAfter = after.DBSize, after.DBSizeInUse
		r.Freed = max(0, r.SizeBefore-r.SizeAfter)
	}
	if err != nil {
		r.Action, r.Reason = ActionFailed, err.Error()
		fmt.Fprintf(out, "%s: defragmented in %s but %v\n", m.Label(), r.Took.Round(time.Millisecond), err)
		return r, fmt.Errorf("after defragmenting %s: %w; stopping here", m.Label(), err)
	}
	r.Action = ActionDefragmented
	fmt.Fprintf(out, "%s: done in %s, %s -> %s, freed %s; serving again after %s\n", m.Label(), r.Took.Round(time.Millisecond),
		bytesize.Format(r.SizeBefore), bytesize.Format(r.SizeAfter), bytesize.Format(r.Freed), waited.Round(time.Millisecond))
	logger.Info("member defragmented", "member", m.Label(), "took", r.Took, "freed_bytes", r.Freed, "db_size", r.SizeAfter)
	return r, nil
}

// waitHealthy runs health rounds until the member serves a linearizable
// read again (so it has caught up with what was committed meanwhile) and the
// cluster has quorum. It returns the member's last state.
func waitHealthy(ctx context.Context, ch *collector.Checker, id uint64, timeout time.Duration) (*collector.MemberState, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *collector.MemberState
	for {
		s := ch.CheckOnce(ctx)
		if m := memberByID(s, id); m != nil {
			if m.Up {
				last = m
			}
			if m.Healthy && s.HasQuorum {
				return m, time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			why := "no member list"
			if m := memberByID(s, id); m != nil {
				why = m.Err
			}
			return last, time.Since(start), fmt.Errorf("not serving again within %s (%s)", timeout, why)
		case <-time.After(healthPoll):
		}
	}
}

func remaining(plan []uint64, done map[uint64]bool, s *collector.Snapshot) []string {
	var out []string
	for _, id := range plan {
		if done[id] {
			continue
		}
		if m := memberByID(s, id); m != nil {
			out = append(out, m.Label())
		} else {
			out = append(out, collector.IDHex(id))
		}
	}
	return out
}

func interrupted(out io.Writer, rep *DefragReport, plan []uint64, done map[uint64]bool, s *collector.Snapshot, cause error) error {
	rep.NotStarted = remaining(plan, done, s)
	fmt.Fprintf(out, "Interrupted between members; not started: %s\n", strings.Join(rep.NotStarted, ", "))
	printSummary(out, rep)
	return fmt.Errorf("%w between members (%w); not started: %s", ErrInterrupted, cause, strings.Join(rep.NotStarted, ", "))
}

func printSummary(out io.Writer, rep *DefragReport) {
	if len(rep.Members) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tROLE\tRESULT\tBEFORE\tAFTER\tFREED\tTOOK")
	for _, m := range rep.Members {
		role := "follower"
		if m.Leader {
			role = "leader"
		}
		took := "-"
		if m.Action == ActionDefragmented || m.Action == ActionFailed {
			took = m.Took.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, role, m.Action,
			bytesize.Format(m.SizeBefore), bytesize.Format(m.SizeAfter), bytesize.Format(m.Freed), took)
	}
	_ = tw.Flush()
	n := 0
	for _, m := range rep.Members {
		if m.Action == ActionDefragmented {
			n++
		}
	}
	fmt.Fprintf(out, "%d member(s) defragmented, %s freed in %s.\n", n, bytesize.Format(rep.Freed()), rep.Took.Round(time.Millisecond))
}
