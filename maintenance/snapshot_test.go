package maintenance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// A saved snapshot restored with etcd's own restore code and started as a
// new single-member cluster holds the same keys at the same revision.
func TestSnapshotSaveRestore(t *testing.T) {
	c := shared.Cluster(t)
	cli := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := map[string]string{}
	var rev int64
	for i := range 50 {
		k, v := fmt.Sprintf("/test/snap/%03d", i), fmt.Sprintf("value-%d", i)
		resp, err := cli.Put(ctx, k, v)
		if err != nil {
			t.Fatal(err)
		}
		want[k], rev = v, resp.Header.Revision
	}
	file := filepath.Join(t.TempDir(), "etcd.db")
	res, err := SaveSnapshot(ctx, testetcd.Conn(t, c), file, SnapshotOptions{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	PrintSnapshot(&out, res)
	t.Log(out.String())
	if res.Leader {
		t.Errorf("streamed from %s, the leader; want a follower", res.Member)
	}
	if res.Revision != rev {
		t.Errorf("snapshot revision %d, want %d (the last write)", res.Revision, rev)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Size() != res.Size || fi.Mode().Perm() != 0o600 {
		t.Errorf("FILE: %v %v, want %d bytes, mode 0600", fi, err, res.Size)
	}
	if left, _ := filepath.Glob(file + ".tmp-*"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	restored := restoreAndStart(t, file)
	got, err := restored.Get(ctx, "/test/snap/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Revision != rev {
		t.Errorf("restored member at revision %d, want %d", got.Header.Revision, rev)
	}
	if len(got.Kvs) != len(want) {
		t.Errorf("restored member holds %d keys under /test/snap/, want %d", len(got.Kvs), len(want))
	}
	for _, kv := range got.Kvs {
		if want[string(kv.Key)] != string(kv.Value) {
			t.Errorf("restored %s = %q, want %q", kv.Key, kv.Value, want[string(kv.Key)])
		}
	}
}

// restoreAndStart restores file with etcdutl's code into a new data
// directory and starts it as a one-member cluster on free loopback ports.
func restoreAndStart(t *testing.T, file string) *clientv3.Client {
	t.Helper()
	addrs := freeport.Addrs(t, 2)
	clientURL := "http://" + addrs[0]
	peerURL := "http://" + addrs[1]
	dir := filepath.Join(t.TempDir(), "restored")
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        file,
		Name:                "restored",
		OutputDataDir:       dir,
		PeerURLs:            []string{peerURL},
		InitialCluster:      "restored=" + peerURL,
		InitialClusterToken: "restored",
	})
	if err != nil {
		t.Fatalf("etcdutl restore: %v", err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "restored", dir
	cu, _ := url.Parse(clientURL)
	pu, _ := url.Parse(peerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = "restored=" + peerURL
	cfg.InitialClusterToken = "restored"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("starting the restored member: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("restored member not ready after 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// The verifier refuses what etcdutl's restore would refuse, and what it
// would accept but is not an etcd database.
func TestVerifySnapshotRefusesDamagedFiles(t *testing.T) {
	c := shared.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if _, err := SaveSnapshot(ctx, testetcd.Conn(t, c), good, SnapshotOptions{}, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	info, err := VerifySnapshot(good)
	if err != nil || info.Size != int64(len(data)) || info.Revision == 0 {
		t.Fatalf("good snapshot: %+v, %v", info, err)
	}

	withDigest := func(db []byte) []byte {
		sum := sha256.Sum256(db)
		return append(append([]byte(nil), db...), sum[:]...)
	}
	db := data[:len(data)-sha256.Size]
	flipped := append([]byte(nil), data...)
	flipped[len(db)/2] ^= 0xff
	cases := map[string][]byte{
		"truncated in the middle":          data[:len(data)/2],
		"last byte missing":                data[:len(data)-1],
		"digest missing":                   db,
		"truncated at a page, digest kept": append(append([]byte(nil), db[:len(db)-4096]...), data[len(db):]...),
		"one byte changed":                 flipped,
		"not bbolt, digest right":          withDigest(make([]byte, 4*4096)),
		"bbolt without etcd's key bucket":  withDigest(emptyBolt(t)),
		"empty":                            nil,
	}
	for name, b := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := VerifySnapshot(p)
		if !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v, want it refused", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := VerifySnapshot(filepath.Join(dir, "missing.db")); err == nil || errors.Is(err, ErrBadSnapshot) {
		t.Errorf("missing file: %v, want a plain not-found error", err)
	}
}

func emptyBolt(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.db")
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A save interrupted while streaming leaves nothing at FILE and no
// temporary file beside it.
func TestSnapshotInterruptedLeavesNothing(t *testing.T) {
	c := shared.Cluster(t)
	cli := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Live data, so the stream is long enough to be caught in the middle.
	fill(t, ctx, cli, "/test/snap-big/", 320)
	t.Cleanup(func() { _, _ = cli.Delete(context.Background(), "/test/snap-big/", clientv3.WithPrefix()) })
	// Slow every member's client traffic (the stream's flow-control
	// updates included); which follower is picked does not matter.
	for _, m := range c.Members() {
		m.DelayClient(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		for _, m := range c.Members() {
			m.DelayClient(0)
		}
	})

	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.db")
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	errc := make(chan error, 1)
	go func() {
		_, err := SaveSnapshot(sctx, testetcd.Conn(t, c), file, SnapshotOptions{}, testLogger(t))
		errc <- err
	}()
	var seen int64
	deadline := time.Now().Add(30 * time.Second)
	for seen < 1<<20 && time.Now().Before(deadline) {
		tmps, _ := filepath.Glob(file + ".tmp-*")
		for _, p := range tmps {
			if fi, err := os.Stat(p); err == nil {
				seen = fi.Size()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	scancel()
	err := <-errc
	if seen < 1<<20 {
		t.Fatalf("never saw the stream in progress (err %v)", err)
	}
	t.Logf("cancelled with %d bytes written: %v", seen, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the cancellation", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
