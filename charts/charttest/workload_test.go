package charttest

import (
	"strings"
	"testing"
)

// TestGOMEMLIMITFollowsTheMemoryLimit: with a memory limit the container's
// GOMEMLIMIT is that limit in bytes (what the kubelet resolves the
// resourceFieldRef to, and a value Go accepts: TestSetups starts the binary
// with it); without one it is unset, since the kubelet would give the
// node's memory instead.
func TestGOMEMLIMITFollowsTheMemoryLimit(t *testing.T) {
	h := NewHelm(t)
	for _, c := range []struct {
		values string
		want   string // "" for unset
	}{
		{"", "134217728"},
		{"resources: {limits: {memory: 512Mi}}\n", "536870912"},
		{"resources: {limits: {memory: 1G}}\n", "1000000000"},
		{"resources: {limits: {memory: null, cpu: 500m}}\n", ""},
		{"resources: {limits: null}\n", ""},
		{"resources: null\n", ""},
	} {
		pod, err := Container(render(t, h, c.values), Node{}, t.TempDir())
		if err != nil {
			t.Errorf("%q: %v", c.values, err)
			continue
		}
		got := ""
		for _, kv := range pod.Env {
			if v, ok := strings.CutPrefix(kv, "GOMEMLIMIT="); ok {
				got = v
			}
		}
		if got != c.want {
			t.Errorf("%q: GOMEMLIMIT %q, want %q", c.values, got, c.want)
		}
	}
}
