package charttest

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpki"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// TestKubeadmPresetWatchesTheCluster is "one helm install with the preset
// watches the cluster's own etcd": a real 3-member etcd that, like kubeadm's,
// serves clients over TLS and requires a client certificate; the chart
// rendered with nothing but preset=kubeadm (and the port, since the test's
// members do not listen on 2379); the three host files in place; HOST_IP the
// loopback address; and the real binary run with the rendered arguments. It
// must find all three members through the member list and report them
// healthy. The one change to the arguments is the listen address: loopback
// instead of every interface, which in a pod is the pod's own.
func TestKubeadmPresetWatchesTheCluster(t *testing.T) {
	h := NewHelm(t)
	dir := t.TempDir()
	now := time.Now()
	ca, err := testpki.NewCA(dir, "etcd", now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue("server", now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("kube-etcd-healthcheck-client", now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := testetcd.Start(t, localetcd.Options{Members: 3,
		ClientTLS: &localetcd.TLSFiles{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile, ClientCertAuth: true}})
	first, err := url.Parse(c.Member(0).ClientURL)
	if err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	m := render(t, h, fmt.Sprintf("preset: kubeadm\nmountPath: %s\nkubeadm: {port: %s}\n", root, first.Port()))
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pod, addr := loopbackPod(t, m, Node{HostIP: first.Hostname(), HostFiles: map[string][]byte{
		"/etc/kubernetes/pki/etcd/ca.crt":                 read(ca.CertFile),
		"/etc/kubernetes/pki/etcd/healthcheck-client.crt": read(client.CertFile),
		"/etc/kubernetes/pki/etcd/healthcheck-client.key": read(client.KeyFile),
	}}, root)
	p := testproc.Start(t, "etcd-monitor", monitorBin, append(pod.Args, "--health-check-interval=1s")...)
	p.WaitReady(t, "http://"+addr+"/health", time.Minute)

	want := []string{
		`etcd_monitor_cluster_members{etcd_cluster="kubernetes"} 3`,
		`etcd_monitor_cluster_members_healthy{etcd_cluster="kubernetes"} 3`,
		`etcd_monitor_cluster_has_quorum{etcd_cluster="kubernetes"} 1`,
	}
	deadline := time.Now().Add(90 * time.Second)
	var missing []string
	for {
		body := httpget.Body(t, "http://"+addr+"/metrics")
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(body, w+"\n") {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s /metrics still lacks %v", missing)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, mem := range c.Members() {
		body := httpget.Body(t, "http://"+addr+"/metrics")
		if line := fmt.Sprintf(`etcd_monitor_member_healthy{endpoint=%q,etcd_cluster="kubernetes",member=%q} 1`, mem.ClientURL, mem.Name); !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
