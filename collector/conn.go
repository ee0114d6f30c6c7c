package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// memberConn is the one long-lived gRPC connection to one member. Status
// and reads go through raw gRPC clients on it: clientv3's Maintenance.Status
// would dial a new connection for every call, and its KV retries would hide
// which member failed.
type memberConn struct {
	endpoint string
	cfg      *etcdconn.Config

	mu  sync.Mutex
	cli *clientv3.Client
}

func newMemberConn(cfg *etcdconn.Config, endpoint string) *memberConn {
	return &memberConn{endpoint: endpoint, cfg: cfg}
}

// client returns the connection, dialling it first if needed. Dialling does
// not block on a dead member unless auth is on, where clientv3 fetches a
// token first; that is bounded by the dial timeout.
func (c *memberConn) client() (*clientv3.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cli != nil {
		return c.cli, nil
	}
	cli, err := c.cfg.New(c.endpoint)
	if err != nil {
		return nil, err
	}
	c.cli = cli
	return cli, nil
}

func (c *memberConn) maintenance() (pb.MaintenanceClient, error) {
	cli, err := c.client()
	if err != nil {
		return nil, err
	}
	return pb.NewMaintenanceClient(cli.ActiveConnection()), nil
}

func (c *memberConn) kv() (pb.KVClient, error) {
	cli, err := c.client()
	if err != nil {
		return nil, err
	}
	return pb.NewKVClient(cli.ActiveConnection()), nil
}

func (c *memberConn) status(ctx context.Context) (*pb.StatusResponse, error) {
	m, err := c.maintenance()
	if err != nil {
		return nil, err
	}
	st, err := m.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

// read performs the health read: linearizable (a ReadIndex round through
// the leader, so it needs quorum) or serializable (local, for learners).
func (c *memberConn) read(ctx context.Context, serializable bool) error {
	kv, err := c.kv()
	if err != nil {
		return err
	}
	_, err = kv.Range(ctx, &pb.RangeRequest{Key: []byte("health"), Serializable: serializable, Limit: 1, CountOnly: true})
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

func (c *memberConn) memberList(ctx context.Context) (*pb.MemberListResponse, error) {
	cli, err := c.client()
	if err != nil {
		return nil, err
	}
	cl := pb.NewClusterClient(cli.ActiveConnection())
	// Serializable: answered from the member's local state, so the list is
	// available even when quorum is lost.
	resp, err := cl.MemberList(ctx, &pb.MemberListRequest{Linearizable: false})
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	return resp, nil
}

func (c *memberConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cli == nil {
		return nil
	}
	err := c.cli.Close()
	c.cli = nil
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
