package benchmark

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrRefused wraps every refusal to start for the cluster's own safety (a
// used prefix, an alarm, no quorum, no quota headroom): the cluster was not
// written to. The REST API maps it to 409 Conflict, the command to exit 1.
var ErrRefused = errors.New("refused")

// ErrUnreachable wraps the failure to reach any member before starting; the
// command exits 3 for it, as `check` does.
var ErrUnreachable = errors.New("cluster unreachable")

// etcdKinds name the server errors an operator acts on differently. Their
// descriptions are etcd's wire API (rpctypes), stable across releases; the
// kinds match the probe failure reasons of the metric contract.
var etcdKinds = []struct{ prefix, kind string }{
	{"etcdserver: mvcc: database space exceeded", "no_space"},
	{"etcdserver: no leader", "no_leader"},
	{"etcdserver: leader changed", "leader_changed"},
	{"etcdserver: server stopped", "server_stopped"},
	{"etcdserver: request timed out", "server_timeout"},
	{"etcdserver: too many requests", "too_many_requests"},
	{"etcdserver: request is too large", "request_too_large"},
	{"etcdserver: permission denied", "permission_denied"},
	{"etcdserver: invalid auth token", "unauthenticated"},
	{"etcdserver: corrupt cluster", "corrupt"},
	{"etcdserver: unhealthy cluster", "unhealthy"},
}

// errorKind classifies a failed request for the error distribution. etcd's
// tool keys its distribution by the full message, which puts addresses and
// stream details in the key and splits one cause over many lines; a kind
// plus one example message reads better and can be a label value.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	desc := rpctypes.ErrorDesc(err)
	for _, k := range etcdKinds {
		if strings.HasPrefix(desc, k.prefix) {
			return k.kind
		}
	}
	code := codes.Unknown
	if s, ok := status.FromError(err); ok {
		code = s.Code()
	} else {
		var ee rpctypes.EtcdError
		if !errors.As(err, &ee) {
			return "other"
		}
		code = ee.Code()
	}
	switch code {
	case codes.DeadlineExceeded:
		return "timeout"
	case codes.Canceled:
		return "canceled"
	}
	return snakeCase(code.String())
}

func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxExampleLen bounds the example message kept per error kind: gRPC
// messages can carry whole connection histories.
const maxExampleLen = 300

func exampleMessage(err error) string {
	s := err.Error()
	if len(s) > maxExampleLen {
		s = s[:maxExampleLen] + "…"
	}
	return s
}
