package charttest

import (
	"strings"
	"testing"
)

// TestDecodeIsStrict: the decoding every chart test relies on refuses a field
// the API type lacks, a wrong type and a kind the chart must not render, so
// a typo in a template cannot pass as a valid object.
func TestDecodeIsStrict(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"# Source: x/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 1\n", `unknown field "spec.replica"`},
		{"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: s}\nspec:\n  endpoints: [{port: http, intervall: 30s}]\n", `unknown field "spec.endpoints[0].intervall"`},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: http}]\n", "cannot unmarshal string"},
		{"apiVersion: monitoring.coreos.com/v1alpha1\nkind: AlertmanagerConfig\nmetadata: {name: a}\nspec:\n  receivers: [{name: r, slackConfigs: [{apiURL: https://hooks.slack.com/x}]}]\n", "apiURL"},
		{"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", "unexpected object v1 Secret"},
	} {
		_, err := Decode("---\n" + c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want an error with %q", c.doc, err, c.want)
		}
	}
	m, err := Decode("---\n# Source: x/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n---\n# Source: x/empty.yaml\n")
	if err != nil || len(m) != 1 || m[0].Kind != "ServiceAccount" || m[0].Source != "x/sa.yaml" {
		t.Errorf("Decode of a valid stream = %+v, %v", m, err)
	}
}
