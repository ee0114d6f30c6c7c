package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Reference operations, named as the monitor's `operation` label, in the
// order a probe round sends them: the first request after an idle spell
// pays for waking the connection, so the comparison is only fair when both
// clients send the same requests in the same order.
var refOps = []string{"put", "get", "get_serializable", "delete"}

// maxRefSamples bounds each operation's samples (a 2-minute window at 1 s
// on 30 members takes 3,600).
const maxRefSamples = 200_000

// reference is a plain clientv3 client per member that does what a probe
// round does (a put with a lease, a linearizable get, a serializable get and
// a delete of its own key), timed the same way (a wall clock around the
// call), while the monitor runs. Its
// rounds leave at random moments (interval ±50%), so they sample the
// members at all times rather than in step with the monitor's rounds: what
// an application using the cluster would see.
type reference struct {
	mu       sync.Mutex
	on       bool
	samples  map[string][]time.Duration
	failures map[string]int
}

func newReference() *reference {
	return &reference{samples: map[string][]time.Duration{}, failures: map[string]int{}}
}

// run starts one loop per endpoint and returns when ctx ends. tc is the
// client's TLS configuration, nil for plaintext.
func (r *reference) run(ctx context.Context, endpoints []string, tc *tls.Config, interval, timeout time.Duration) error {
	var clis []*clientv3.Client
	defer func() {
		for _, c := range clis {
			c.Close()
		}
	}()
	var leases []clientv3.LeaseID
	for _, ep := range endpoints {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, TLS: tc, Logger: zap.NewNop()})
		if err != nil {
			return fmt.Errorf("reference client for %s: %w", ep, err)
		}
		clis = append(clis, c)
		// Like the probe's key, the reference's carries a lease; one that
		// outlives the run, so granting it is not part of any sample.
		// Tried again until it is had: members busy with the monitor's
		// start (a thousand clusters connecting at once) can take longer
		// than one timeout.
		var l *clientv3.LeaseGrantResponse
		for l == nil {
			gctx, cancel := context.WithTimeout(ctx, timeout)
			l, err = c.Grant(gctx, int64((24 * time.Hour).Seconds()))
			cancel()
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("reference lease through %s: %w", ep, err)
			}
		}
		leases = append(leases, l.ID)
	}
	var wg sync.WaitGroup
	for i, c := range clis {
		key, lease := fmt.Sprintf("/fleetbench/reference/%d", i), leases[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				wait := time.Duration(float64(interval) * (0.5 + rand.Float64()))
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				for _, op := range refOps {
					rctx, cancel := context.WithTimeout(ctx, timeout)
					start := time.Now()
					var err error
					switch op {
					case "get":
						_, err = c.Get(rctx, key)
					case "get_serializable":
						_, err = c.Get(rctx, key, clientv3.WithSerializable())
					case "put":
						_, err = c.Put(rctx, key, "fleetbench", clientv3.WithLease(lease))
					case "delete":
						_, err = c.Delete(rctx, key)
					}
					took := time.Since(start)
					cancel()
					if ctx.Err() != nil {
						return
					}
					r.record(op, took, err)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// record keeps a sample while the measurement window is open.
func (r *reference) record(op string, took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.on:
	case err != nil:
		r.failures[op]++
	case len(r.samples[op]) < maxRefSamples:
		r.samples[op] = append(r.samples[op], took)
	}
}

// window opens or closes the measurement window.
func (r *reference) window(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
}

// result returns copies of the samples and failure counts.
func (r *reference) result() (map[string][]time.Duration, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, f := map[string][]time.Duration{}, map[string]int{}
	for k, v := range r.samples {
		s[k] = append([]time.Duration(nil), v...)
	}
	for k, v := range r.failures {
		f[k] = v
	}
	return s, f
}
