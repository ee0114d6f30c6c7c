package maintenance

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// disarmNoSpace disarms the NOSPACE alarm of every member whose database is
// back under its quota. One left armed fails the run: the cluster still
// refuses writes.
func disarmNoSpace(ctx context.Context, client *clientv3.Client, ch *collector.Checker, conn *etcdconn.Config, out io.Writer) ([]AlarmResult, error) {
	s := ch.CheckOnce(ctx)
	var res []AlarmResult
	var kept []string
	for i := range s.Members {
		m := &s.Members[i]
		if !slices.Contains(m.Alarms, "NOSPACE") {
			continue
		}
		r := AlarmResult{Member: m.Label()}
		switch {
		case !m.Up:
			r.Reason = "member does not answer, its size is unknown"
		case m.DBSize >= m.DBQuota:
			r.Reason = fmt.Sprintf("database still %s, quota %s", bytesize.Format(m.DBSize), bytesize.Format(m.DBQuota))
		default:
			actx, cancel := context.WithTimeout(ctx, conn.RequestTimeout)
			_, err := client.AlarmDisarm(actx, &clientv3.AlarmMember{MemberID: m.ID, Alarm: pb.AlarmType_NOSPACE})
			cancel()
			if err != nil {
				r.Reason = fmt.Sprintf("disarming: %v", err)
				break
			}
			r.Disarmed = true
			r.Reason = fmt.Sprintf("database %s, quota %s", bytesize.Format(m.DBSize), bytesize.Format(m.DBQuota))
		}
		res = append(res, r)
		if r.Disarmed {
			fmt.Fprintf(out, "%s: NOSPACE disarmed (%s)\n", r.Member, r.Reason)
		} else {
			fmt.Fprintf(out, "%s: NOSPACE kept: %s\n", r.Member, r.Reason)
			kept = append(kept, r.Member+": "+r.Reason)
		}
	}
	if len(res) == 0 {
		fmt.Fprintln(out, "No NOSPACE alarm to disarm.")
	}
	if len(kept) > 0 {
		return res, fmt.Errorf("NOSPACE alarm kept, the cluster still refuses writes: %s", strings.Join(kept, "; "))
	}
	return res, nil
}
