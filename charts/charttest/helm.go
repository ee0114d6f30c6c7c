// Package charttest tests the Helm chart in charts/etcd-monitor with the real,
// pinned helm binary (`make tools` installs it into ./bin): it renders the
// chart for the documented setups and decodes every object strictly into the
// Kubernetes and Prometheus Operator API types, runs promtool over the rules,
// compares the rules and dashboards with their generators, and runs the
// rendered `serve` arguments through the real binary's --config.check.
package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// Release and Namespace are what every test renders as. KubeVersion is the
// Kubernetes version rendered for: helm built with `go install` assumes
// v1.20, older than the chart's kubeVersion.
const (
	Release     = "mon"
	Namespace   = "monitoring"
	KubeVersion = "v1.33.0"
)

// ChartDir is the chart's directory.
func ChartDir() string { return filepath.Join(testbin.RepoRoot(), "charts", "etcd-monitor") }

// Helm runs the pinned helm binary with its config, cache and data
// directories in a temporary directory, so a test never reads or writes the
// user's repositories or plugins.
type Helm struct {
	bin string
	env []string
}

// NewHelm finds helm (skipping the test on a laptop without it, failing it in
// CI).
func NewHelm(t testing.TB) *Helm {
	t.Helper()
	bin := testbin.Require(t, "run `make tools` (go install helm.sh/helm/v3/cmd/helm at the Makefile's HELM_VERSION)", "helm")
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"HELM_KUBECONTEXT=",
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	return &Helm{bin: bin, env: env}
}

// Run runs helm with args and returns stdout, stderr and the error.
func (h *Helm) Run(args ...string) (string, string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// OperatorAPIs are the Prometheus Operator kinds the chart renders, as a
// cluster with kube-prometheus-stack serves them.
var OperatorAPIs = []string{
	"monitoring.coreos.com/v1/ServiceMonitor",
	"monitoring.coreos.com/v1/PrometheusRule",
	"monitoring.coreos.com/v1alpha1/AlertmanagerConfig",
}

// Template renders the chart with the values (YAML text; empty for the
// defaults) for a cluster with the Prometheus Operator, and returns the
// manifest stream.
func (h *Helm) Template(t testing.TB, values string) (string, error) {
	t.Helper()
	return h.TemplateFor(t, values, OperatorAPIs)
}

// TemplateFor is Template for a cluster serving the given extra API kinds.
func (h *Helm) TemplateFor(t testing.TB, values string, apis []string) (string, error) {
	t.Helper()
	args := []string{"template", Release, ChartDir(), "--namespace", Namespace, "--kube-version", KubeVersion}
	for _, a := range apis {
		args = append(args, "--api-versions", a)
	}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	out, stderr, err := h.Run(args...)
	if err != nil {
		return "", fmt.Errorf("helm template: %v: %s", err, strings.TrimSpace(stderr))
	}
	return out, nil
}
