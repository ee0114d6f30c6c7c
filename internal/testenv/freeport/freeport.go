// Package freeport finds loopback addresses for tests: where a program the
// test starts will listen, or where nothing answers.
package freeport

import (
	"net"
	"testing"
)

// Addr returns a loopback address ("127.0.0.1:port") nothing listens on
// right now. Another process may take it before the caller binds it; tests
// that start a program on it live with that small chance.
func Addr(t testing.TB) string {
	t.Helper()
	return Addrs(t, 1)[0]
}

// Addrs returns n distinct such addresses: every listener is held until all
// are found, so the kernel cannot hand out one port twice.
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}
