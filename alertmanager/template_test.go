package alertmanager

import (
	"strings"
	"testing"
)

// Each notification shows the cluster, the member, the value and the runbook
// link of the sample alert (testdata/alert.json: one firing, one resolved).
func TestTemplatesRenderSampleAlert(t *testing.T) {
	const (
		cluster = "prod"
		member  = "etcd-1"
		runbook = "https://github.com/etcd-monitor/etcd-monitor/blob/main/docs/runbooks.md#etcdmemberunreachable"
	)
	for _, tc := range []struct {
		name, typ string
		want      []string
	}{
		{"slack.etcd.title", "text", []string{"[FIRING:1]", "EtcdMemberUnreachable", "etcd cluster " + cluster}},
		{"slack.etcd.text", "text", []string{"cluster " + cluster, "member " + member, "value: `0`", "<" + runbook + "|runbook>", "*resolved*", "has not answered"}},
		{"slack.etcd.color", "text", []string{"warning"}},
		{"pagerduty.etcd.description", "text", []string{"[FIRING:1] EtcdMemberUnreachable", member, "(value 0)"}},
		{"email.etcd.subject", "text", []string{"[FIRING:1] EtcdMemberUnreachable on etcd cluster " + cluster}},
		{"email.etcd.text", "text", []string{"Firing:", "Resolved:", "cluster " + cluster + ", member " + member, "value: 0", "runbook: " + runbook}},
		{"email.etcd.html", "html", []string{"<td>cluster " + cluster + ", member " + member, "<td>0</td>", `<a href="` + runbook + `">runbook</a>`}},
		{"etcd.alerts.text", "text", []string{"endpoint https://etcd-1:2379"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "."
			if tc.name == "etcd.alerts.text" {
				data = ".Alerts"
			}
			out, err := amtool(t, "template", "render", "--template.glob=templates/*.tmpl", "--template.type="+tc.typ,
				"--template.text={{ template \""+tc.name+"\" "+data+" }}", "--template.data=testdata/alert.json")
			if err != nil {
				t.Fatalf("amtool template render: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s does not contain %q:\n%s", tc.name, w, out)
				}
			}
		})
	}
}

// Alerts of other sources (no annotations beyond summary, no cluster label)
// must still render, not fail the notification.
func TestTemplatesTolerateSparseAlerts(t *testing.T) {
	out, err := amtool(t, "template", "render", "--template.glob=templates/*.tmpl",
		`--template.text={{ template "slack.etcd.title" . }}|{{ template "slack.etcd.text" . }}|{{ template "email.etcd.text" . }}|{{ template "pagerduty.etcd.description" . }}`)
	if err != nil {
		t.Fatalf("amtool template render with its built-in sample alert: %v\n%s", err, out)
	}
	if !strings.Contains(out, "(no cluster)") {
		t.Errorf("a group without etcd_cluster should say so:\n%s", out)
	}
}
