package collector

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A member cut off in the middle of a TLS handshake is down; one whose
// certificate the monitor rejects, or that rejects the monitor's, refuses
// the monitor. Error texts as gRPC wraps them.
func TestContactError(t *testing.T) {
	wrap := func(msg string) error {
		return fmt.Errorf("status: %w", status.Error(codes.Unavailable, msg))
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(`connection error: desc = "transport: authentication handshake failed: EOF"`), ""},
		{wrap(`connection error: desc = "transport: authentication handshake failed: context deadline exceeded"`), ""},
		{wrap(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), ""},
		{wrap(`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`), ContactTLSMismatch},
		{wrap(`connection error: desc = "transport: authentication handshake failed: remote error: tls: bad certificate"`), ContactTLSMismatch},
		{wrap(`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`), ContactTLSMismatch},
		{&AuthError{Err: errors.New("etcdserver: authentication failed, invalid user ID or password")}, ContactAuthFailed},
		{nil, ""},
	} {
		if got := contactError(tc.err); got != tc.want {
			t.Errorf("contactError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
