// Package pushgateway pushes the results of one-shot commands (benchmark,
// snapshot save) to a Prometheus Pushgateway, in a group keyed by job and
// etcd_cluster as the rules and dashboards read them.
package pushgateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"
)

// DefaultTimeout bounds a push when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options say where results go.
type Options struct {
	URL     string
	Job     string // the command's own job when empty
	Cluster string // etcd_cluster of the group
	Timeout time.Duration
}

// ParseURL validates a Pushgateway URL as --pushgateway.url takes it.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want an http:// or https:// URL, got %q", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", raw)
	}
	return u, nil
}

// Push sends to the group job (o.Job, else defaultJob) and etcd_cluster at
// o.URL, under o.Timeout. send adds what the command pushes (collectors,
// further grouping labels) and pushes it: PushContext to replace the group,
// AddContext to add to it. Its error is returned as is, for the caller to
// say what it was pushing.
func Push(ctx context.Context, o Options, defaultJob string, send func(context.Context, *push.Pusher) error) error {
	if o.Job == "" {
		o.Job = defaultJob
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	p := push.New(o.URL, o.Job).
		Client(&http.Client{Timeout: o.Timeout}).
		Grouping("etcd_cluster", o.Cluster)
	return send(ctx, p)
}
