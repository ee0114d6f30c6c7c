package charttest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"
	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcd-monitor/etcd-monitor/dashboards"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpki"
	"github.com/etcd-monitor/etcd-monitor/rules"
)

// monitorBin is etcd-monitor built from this tree by TestMain.
var monitorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	monitorBin = filepath.Join(dir, "etcd-monitor")
	build := exec.Command("go", "build", "-o", monitorBin, "./cmd/etcd-monitor")
	build.Dir = testbin.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/etcd-monitor: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup is one documented way to install the chart.
type setup struct {
	name   string
	values string // may use %[1]s for the container mount path
	// node gives the pod the Secrets and host files it mounts.
	node func(t *testing.T, pki pki) Node
	// check asserts what this setup is for, on the decoded objects.
	check func(t *testing.T, m Manifest, proc Process)
	// accepted is the --config.check summary line(s) expected.
	accepted []string
}

// pki is a CA and a certificate the setups' Secrets and host files hold.
type pki struct{ ca, cert, key []byte }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := testpki.NewCA(dir, "etcd", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue("healthcheck-client", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return pki{ca: read(ca.CertFile), cert: read(pair.CertFile), key: read(pair.KeyFile)}
}

// kubeadmNode is a control-plane node as kubeadm leaves it: etcd's CA and
// healthcheck-client certificate in /etc/kubernetes/pki/etcd.
func kubeadmNode(_ *testing.T, p pki) Node {
	return Node{HostIP: "127.0.0.1", HostFiles: map[string][]byte{
		"/etc/kubernetes/pki/etcd/ca.crt":                 p.ca,
		"/etc/kubernetes/pki/etcd/healthcheck-client.crt": p.cert,
		"/etc/kubernetes/pki/etcd/healthcheck-client.key": p.key,
	}}
}

func setups() []setup {
	return []setup{
		{
			name:   "default values",
			values: "mountPath: %[1]s\n",
			node:   func(*testing.T, pki) Node { return Node{} },
			check: func(t *testing.T, m Manifest, proc Process) {
				dep := mustOne[appsv1.Deployment](t, m)
				pod := dep.Spec.Template.Spec
				c := pod.Containers[0]
				// Restricted Pod Security: non-root, no escalation, no
				// capabilities, RuntimeDefault seccomp, read-only root.
				if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("pod security context %+v is not restricted", pod.SecurityContext)
				}
				sc := c.SecurityContext
				if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("container security context %+v is not restricted", sc)
				}
				if pod.HostNetwork || len(pod.Volumes) != 0 {
					t.Errorf("default pod uses the host network (%v) or volumes (%v)", pod.HostNetwork, pod.Volumes)
				}
				if *dep.Spec.Replicas != 1 {
					t.Errorf("replicas %d, want 1", *dep.Spec.Replicas)
				}
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
					if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
						t.Errorf("probe %+v does not GET /health over HTTP", p)
					}
				}
				sm := serviceMonitorNamed(t, m, "mon-etcd-monitor")
				if sm.Labels["release"] != "kube-prometheus-stack" {
					t.Errorf("ServiceMonitor labels %v lack release: kube-prometheus-stack", sm.Labels)
				}
				ep := sm.Spec.Endpoints[0]
				if ep.HonorLabels != true || ep.Scheme == nil || *ep.Scheme != "http" {
					t.Errorf("ServiceMonitor endpoint %+v: want honorLabels (etcd-monitor's own endpoint label) over http", ep)
				}
				if !hasRelabel(ep.RelabelConfigs, "job", "etcd-monitor") {
					t.Errorf("ServiceMonitor does not set job=etcd-monitor: %+v", ep.RelabelConfigs)
				}
				svc := mustOne[corev1.Service](t, m)
				for k, v := range dep.Spec.Template.Labels {
					if svc.Spec.Selector[k] != v && svc.Spec.Selector[k] != "" {
						t.Errorf("Service selector %v does not select the pod %v", svc.Spec.Selector, dep.Spec.Template.Labels)
					}
				}
				for _, o := range m {
					labels := objectLabels(o)
					for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
						if labels[k] == "" {
							t.Errorf("%s %s lacks the standard label %s", o.Kind, o.Name, k)
						}
					}
				}
				wantArgs(t, proc.Args, "--etcd.endpoints=http://etcd:2379", "--cluster.name=default")
				// The default limit, 128Mi, in bytes, which is what Go reads.
				wantEnv(t, proc, "GOMEMLIMIT=134217728")
				if e := envVar(c, "GOMEMLIMIT"); e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
					t.Errorf("GOMEMLIMIT %+v: want the container's memory limit (resourceFieldRef limits.memory)", e)
				}
				if len(All[appsv1.StatefulSet](m)) != 0 {
					t.Error("a StatefulSet rendered without sharding")
				}
			},
			accepted: []string{`cluster "default": 1 endpoint,`},
		},
		{
			name:   "kubeadm preset",
			values: "preset: kubeadm\nmountPath: %[1]s\n",
			node:   kubeadmNode,
			check: func(t *testing.T, m Manifest, proc Process) {
				pod := mustOne[appsv1.Deployment](t, m).Spec.Template.Spec
				c := pod.Containers[0]
				if pod.NodeSelector["node-role.kubernetes.io/control-plane"] != "" || len(pod.NodeSelector) != 1 {
					t.Errorf("nodeSelector %v, want the control-plane role", pod.NodeSelector)
				}
				if len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "node-role.kubernetes.io/control-plane" || pod.Tolerations[0].Effect != corev1.TaintEffectNoSchedule {
					t.Errorf("tolerations %+v, want the control-plane taint", pod.Tolerations)
				}
				var hostPaths []string
				for _, v := range pod.Volumes {
					if v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathFile {
						t.Errorf("volume %+v: want a hostPath of type File", v)
						continue
					}
					hostPaths = append(hostPaths, v.HostPath.Path)
				}
				want := []string{"/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.key"}
				if !slices.Equal(hostPaths, want) {
					t.Errorf("host paths %v, want exactly %v (never the directory with etcd's own keys)", hostPaths, want)
				}
				if e := envVar(c, "HOST_IP"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
					t.Errorf("env %+v, want HOST_IP from status.hostIP", c.Env)
				}
				if !slices.Contains(c.Args, "--etcd.endpoints=https://$(HOST_IP):2379") {
					t.Errorf("args %v do not point at https://$(HOST_IP):2379", c.Args)
				}
				if pod.HostNetwork {
					t.Error("hostNetwork: etcd listens on the node IP, which pods reach without it")
				}
				if psc := pod.SecurityContext; psc.RunAsUser == nil || *psc.RunAsUser != 0 {
					t.Errorf("runAsUser %v: the root-owned 0600 key needs uid 0", psc.RunAsUser)
				}
				if sc := c.SecurityContext; !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
					t.Errorf("container security context %+v: still no capabilities, no escalation, read-only root", sc)
				}
				wantArgs(t, proc.Args, "--etcd.endpoints=https://127.0.0.1:2379", "--cluster.name=kubernetes")
			},
			accepted: []string{`cluster "kubernetes": 1 endpoint,`},
		},
		{
			name:   "kubeadm over the host network",
			values: "preset: kubeadm\nhostNetwork: true\nkubeadm: {host: 127.0.0.1}\nmountPath: %[1]s\n",
			node:   kubeadmNode,
			check: func(t *testing.T, m Manifest, proc Process) {
				pod := mustOne[appsv1.Deployment](t, m).Spec.Template.Spec
				if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
					t.Errorf("hostNetwork %v, dnsPolicy %q: want the host network with cluster DNS", pod.HostNetwork, pod.DNSPolicy)
				}
				wantArgs(t, proc.Args, "--etcd.endpoints=https://127.0.0.1:2379")
			},
			accepted: []string{`cluster "kubernetes": 1 endpoint,`},
		},
		{
			name: "one cluster with TLS and auth from Secrets",
			values: `mountPath: %[1]s
etcd:
  endpoints: [https://10.0.0.11:2379]
  clusterName: kubernetes
  tls: {existingSecret: etcd-healthcheck-client}
  auth:
    username: monitor
    passwordSecret: {name: etcd-monitor-auth}
`,
			node: func(_ *testing.T, p pki) Node {
				return Node{Secrets: map[string]map[string][]byte{
					"etcd-healthcheck-client": {"ca.crt": p.ca, "tls.crt": p.cert, "tls.key": p.key},
					"etcd-monitor-auth":       {"password": []byte("s3cret\n"), "other": []byte("not mounted")},
				}}
			},
			check: func(t *testing.T, m Manifest, proc Process) {
				pod := mustOne[appsv1.Deployment](t, m).Spec.Template.Spec
				if *pod.SecurityContext.RunAsNonRoot != true || len(pod.NodeSelector) != 0 {
					t.Errorf("the Secret route must stay non-root and schedule anywhere: %+v %v", pod.SecurityContext, pod.NodeSelector)
				}
				for _, a := range proc.Args {
					if strings.Contains(a, "s3cret") {
						t.Errorf("the password is in the arguments: %s", a)
					}
				}
				wantArgs(t, proc.Args, "--etcd.username=monitor", "--etcd.endpoints=https://10.0.0.11:2379")
			},
			accepted: []string{`cluster "kubernetes": 1 endpoint,`},
		},
		{
			name: "multi-cluster",
			values: `mountPath: %[1]s
clusters:
  - name: prod-a
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]
    username: monitor
    passwordSecret: {name: etcd-prod-a, key: password}
    tlsSecret: {name: etcd-prod-a-tls}
    hashkv_interval: 10m
  - name: prod-b
    endpoints: [https://10.0.1.1:2379]
    tlsSecret: {name: etcd-prod-b-tls, certKey: "", keyKey: ""}
    probe: {write: false}
  - name: staging
    endpoints: [10.0.2.1:2379]
    health_check_interval: 30s
extraArgs: [--probe.interval=10s]
`,
			node: func(_ *testing.T, p pki) Node {
				return Node{Secrets: map[string]map[string][]byte{
					"etcd-prod-a":     {"password": []byte("s3cret\n")},
					"etcd-prod-a-tls": {"ca.crt": p.ca, "tls.crt": p.cert, "tls.key": p.key},
					"etcd-prod-b-tls": {"ca.crt": p.ca},
				}}
			},
			check: func(t *testing.T, m Manifest, proc Process) {
				var file string
				for _, cm := range All[corev1.ConfigMap](m) {
					if cm.Name == "mon-etcd-monitor-clusters" {
						file = cm.Data["clusters.yml"]
					}
				}
				for _, s := range []string{"passwordSecret", "tlsSecret", "s3cret"} {
					if strings.Contains(file, s) {
						t.Errorf("clusters.yml contains %q:\n%s", s, file)
					}
				}
				if !strings.Contains(file, "password_file: ") {
					t.Errorf("clusters.yml has no password_file:\n%s", file)
				}
				if !slices.ContainsFunc(proc.Args, func(a string) bool { return strings.HasPrefix(a, "--config.file=") }) ||
					slices.ContainsFunc(proc.Args, func(a string) bool { return strings.HasPrefix(a, "--etcd.endpoints") }) {
					t.Errorf("args %v: want --config.file and no --etcd.endpoints", proc.Args)
				}
				dep := mustOne[appsv1.Deployment](t, m)
				if dep.Spec.Template.Annotations["checksum/clusters"] == "" {
					t.Error("no checksum/clusters annotation: a changed cluster list would not restart the pod")
				}
			},
			accepted: []string{`cluster "prod-a": 3 endpoints`, `cluster "prod-b": 1 endpoint,`, `cluster "staging": 1 endpoint, checked every 30s, probes every 10s`},
		},
		{
			name:   "sharded fleet",
			values: fleetValues(3, func(i int) string { return fmt.Sprintf("http://10.0.%d.1:2379", i) }) + "podDisruptionBudget: {enabled: true}\n",
			node:   func(*testing.T, pki) Node { return Node{PodIndex: 2} },
			check: func(t *testing.T, m Manifest, proc Process) {
				if n := len(All[appsv1.Deployment](m)); n != 0 {
					t.Errorf("%d Deployments rendered with shards: 3, want none", n)
				}
				sts := mustOne[appsv1.StatefulSet](t, m)
				if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
					t.Errorf("StatefulSet replicas %v, podManagementPolicy %q: want 3, Parallel", sts.Spec.Replicas, sts.Spec.PodManagementPolicy)
				}
				podLabels := sts.Spec.Template.Labels
				if !selects(sts.Spec.Selector.MatchLabels, podLabels) {
					t.Errorf("StatefulSet selector %v does not select its pods %v", sts.Spec.Selector.MatchLabels, podLabels)
				}
				c := sts.Spec.Template.Spec.Containers[0]
				if e := envVar(c, "ETCD_MONITOR_SHARD_INDEX"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
					e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
					t.Errorf("ETCD_MONITOR_SHARD_INDEX %+v: want the pod-index label (the variable --shard.index reads)", e)
				}
				wantArgs(t, proc.Args, "--shard.count=3")
				wantEnv(t, proc, "ETCD_MONITOR_SHARD_INDEX=2", "GOMEMLIMIT=134217728")
				// Every replica mounts the one clusters ConfigMap.
				if v := sts.Spec.Template.Spec.Volumes; len(v) == 0 || v[0].ConfigMap == nil || v[0].ConfigMap.Name != "mon-etcd-monitor-clusters" {
					t.Errorf("volumes %+v: want the clusters ConfigMap", v)
				}
				// The governing Service is headless and not the scraped one,
				// so the ServiceMonitor scrapes each pod once.
				sm := serviceMonitorNamed(t, m, "mon-etcd-monitor")
				var headless *corev1.Service
				var scraped []string
				for _, svc := range All[corev1.Service](m) {
					if svc.Name == sts.Spec.ServiceName {
						headless = svc
					}
					if selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
						if !selects(svc.Spec.Selector, podLabels) {
							t.Errorf("scraped Service %s selector %v does not select the pods %v", svc.Name, svc.Spec.Selector, podLabels)
						}
						scraped = append(scraped, svc.Name)
					}
				}
				if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !selects(headless.Spec.Selector, podLabels) {
					t.Errorf("serviceName %q: want a headless Service over the pods, got %+v", sts.Spec.ServiceName, headless)
				}
				if len(scraped) != 1 {
					t.Errorf("the ServiceMonitor selects Services %v, want one (each pod scraped once)", scraped)
				}
				pdb := mustOne[policyv1.PodDisruptionBudget](t, m)
				if !selects(pdb.Spec.Selector.MatchLabels, podLabels) || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("PDB selector %v maxUnavailable %v: want the StatefulSet's pods, 1 at a time", pdb.Spec.Selector.MatchLabels, pdb.Spec.MaxUnavailable)
				}
			},
			// --config.check with --shard.count names each cluster's shard.
			accepted: fleetShards(3),
		},
		{
			name: "web TLS and basic auth",
			values: `mountPath: %[1]s
web:
  existingSecret: etcd-monitor-web
  tls: true
  basicAuth: true
serviceMonitor:
  tlsConfig:
    ca: {secret: {name: etcd-monitor-web, key: ca.crt}}
    serverName: etcd-monitor
  basicAuth:
    username: {name: etcd-monitor-scrape, key: username}
    password: {name: etcd-monitor-scrape, key: password}
alertmanagerConfig: {enabled: true}
`,
			node: func(t *testing.T, p pki) Node {
				hash, err := bcrypt.GenerateFromPassword([]byte("scrape-password"), bcrypt.MinCost)
				if err != nil {
					t.Fatal(err)
				}
				return Node{Secrets: map[string]map[string][]byte{"etcd-monitor-web": {
					"web-config.yml": []byte("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n"),
					"tls.crt":        p.cert, "tls.key": p.key, "ca.crt": p.ca,
				}}}
			},
			check: func(t *testing.T, m Manifest, proc Process) {
				c := mustOne[appsv1.Deployment](t, m).Spec.Template.Spec.Containers[0]
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
					if p == nil || p.TCPSocket == nil || p.HTTPGet != nil {
						t.Errorf("probe %+v: with basic auth the kubelet can only check the port", p)
					}
				}
				ep := serviceMonitorNamed(t, m, "mon-etcd-monitor").Spec.Endpoints[0]
				if ep.Scheme == nil || *ep.Scheme != "https" || ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil || ep.TLSConfig.CA.Secret.Name != "etcd-monitor-web" {
					t.Errorf("ServiceMonitor endpoint %+v: want https with the CA by reference", ep)
				}
				if ep.BasicAuth == nil || ep.BasicAuth.Password.Name != "etcd-monitor-scrape" {
					t.Errorf("ServiceMonitor basicAuth %+v: want the password Secret by reference", ep.BasicAuth)
				}
				// Alertmanager posts to the same listener: HTTPS verified with
				// the same CA, and the same credentials.
				wh := mustOne[monitoringv1alpha1.AlertmanagerConfig](t, m).Spec.Receivers[0].WebhookConfigs[0]
				if wh.URL == nil || string(*wh.URL) != "https://mon-etcd-monitor.monitoring.svc:9379/api/v1/alerts" {
					t.Errorf("webhook URL %v, want the release's Service over https", wh.URL)
				}
				if hc := wh.HTTPConfig; hc == nil || hc.TLSConfig == nil || hc.TLSConfig.CA.Secret == nil || hc.TLSConfig.CA.Secret.Name != "etcd-monitor-web" ||
					hc.BasicAuth == nil || hc.BasicAuth.Password.Name != "etcd-monitor-scrape" || hc.Authorization != nil {
					t.Errorf("webhook httpConfig %+v: want the CA and the basic auth Secrets by reference", hc)
				}
				i := slices.IndexFunc(proc.Args, func(a string) bool { return strings.HasPrefix(a, "--web.config.file=") })
				if i < 0 {
					t.Fatalf("args %v lack --web.config.file", proc.Args)
				}
				// --config.check does not read the web config: exporter-toolkit,
				// which serve hands it to, validates it (TLS files included)
				// where the pod would find it.
				if err := web.Validate(strings.TrimPrefix(proc.Args[i], "--web.config.file=")); err != nil {
					t.Errorf("the mounted web config is refused: %v", err)
				}
			},
			accepted: []string{`cluster "default": 1 endpoint,`},
		},
		{
			name: "alert webhook token",
			values: `mountPath: %[1]s
webhookToken: {existingSecret: etcd-monitor-webhook}
alertmanagerConfig: {enabled: true}
networkPolicy:
  enabled: true
  from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
`,
			node: func(*testing.T, pki) Node {
				return Node{Secrets: map[string]map[string][]byte{"etcd-monitor-webhook": {
					"token": []byte("s3cret-token\n"), "other": []byte("not mounted"),
				}}}
			},
			check: func(t *testing.T, m Manifest, proc Process) {
				i := slices.IndexFunc(proc.Args, func(a string) bool { return strings.HasPrefix(a, "--alerts.webhook-token-file=") })
				if i < 0 {
					t.Fatalf("args %v lack --alerts.webhook-token-file", proc.Args)
				}
				// The token, and only it, is mounted where the flag says.
				if b, err := os.ReadFile(strings.TrimPrefix(proc.Args[i], "--alerts.webhook-token-file=")); err != nil || string(b) != "s3cret-token\n" {
					t.Errorf("the token file holds %q (%v), want the Secret's token", b, err)
				}
				for _, a := range proc.Args {
					if strings.Contains(a, "s3cret-token") {
						t.Errorf("the token is in the arguments: %s", a)
					}
				}
				wh := mustOne[monitoringv1alpha1.AlertmanagerConfig](t, m).Spec.Receivers[0].WebhookConfigs[0]
				if hc := wh.HTTPConfig; hc == nil || hc.Authorization == nil || hc.Authorization.Credentials == nil ||
					hc.Authorization.Credentials.Name != "etcd-monitor-webhook" || hc.Authorization.Credentials.Key != "token" || hc.TLSConfig != nil || hc.BasicAuth != nil {
					t.Errorf("webhook httpConfig %+v: want the token Secret as the bearer credentials", hc)
				}
				// The PagerDuty receiver posts elsewhere: no credentials of the monitor's.
				if pd := mustOne[monitoringv1alpha1.AlertmanagerConfig](t, m).Spec.Receivers[1].PagerDutyConfigs[0]; pd.HTTPConfig != nil {
					t.Errorf("PagerDuty httpConfig %+v: the monitor's credentials must not leave for another receiver", pd.HTTPConfig)
				}
			},
			accepted: []string{`cluster "default": 1 endpoint,`},
		},
		{
			name: "kube-prometheus-stack with everything on",
			values: `mountPath: %[1]s
preset: kubeadm
serviceMonitor:
  labels: {release: kps}
prometheusRule:
  preset: kube-prometheus-stack
etcdMetrics:
  enabled: true
dashboards:
  label: grafana_dashboard
  labelValue: "etcd"
  annotations: {grafana_folder: etcd}
alertmanagerConfig:
  enabled: true
  namespace: prometheus
  labels: {alertmanagerConfig: main}
podDisruptionBudget:
  enabled: true
networkPolicy:
  enabled: true
  from:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: monitoring}
`,
			node: kubeadmNode,
			check: func(t *testing.T, m Manifest, proc Process) {
				for _, sm := range All[monitoringv1.ServiceMonitor](m) {
					if sm.Labels["release"] != "kps" {
						t.Errorf("ServiceMonitor %s labels %v lack release: kps", sm.Name, sm.Labels)
					}
				}
				pr := mustOne[monitoringv1.PrometheusRule](t, m)
				if pr.Labels["release"] != "kps" {
					t.Errorf("PrometheusRule labels %v lack release: kps", pr.Labels)
				}
				// The chart's etcd ServiceMonitor labels etcd's series job="etcd":
				// the rules must read that job, not the preset's job="kube-etcd".
				if exprs := ruleExprs(pr.Spec); !strings.Contains(exprs, `job="etcd"`) || strings.Contains(exprs, "kube-etcd") {
					t.Errorf("with etcdMetrics enabled the rules select etcd by job=%q? %v; by kube-etcd? %v", "etcd", strings.Contains(exprs, `job="etcd"`), strings.Contains(exprs, "kube-etcd"))
				}
				etcdSM := serviceMonitorNamed(t, m, "mon-etcd-monitor-etcd-metrics")
				ep := etcdSM.Spec.Endpoints[0]
				if !hasRelabel(ep.RelabelConfigs, "etcd_cluster", "kubernetes") || !hasRelabel(ep.RelabelConfigs, "job", "etcd") {
					t.Errorf("etcd ServiceMonitor relabelings %+v: want etcd_cluster=kubernetes and job=etcd", ep.RelabelConfigs)
				}
				if etcdSM.Spec.NamespaceSelector.MatchNames[0] != "kube-system" {
					t.Errorf("etcd ServiceMonitor looks in %v, want kube-system", etcdSM.Spec.NamespaceSelector)
				}
				var etcdSvc *corev1.Service
				for _, s := range All[corev1.Service](m) {
					if s.Namespace == "kube-system" {
						etcdSvc = s
					}
				}
				if etcdSvc == nil || etcdSvc.Spec.Selector["component"] != "etcd" || etcdSvc.Spec.ClusterIP != "None" {
					t.Errorf("etcd Service %+v: want a headless Service over component=etcd in kube-system", etcdSvc)
				} else {
					for k, v := range etcdSM.Spec.Selector.MatchLabels {
						if etcdSvc.Labels[k] != v {
							t.Errorf("etcd ServiceMonitor selector %v does not select the etcd Service %v", etcdSM.Spec.Selector.MatchLabels, etcdSvc.Labels)
						}
					}
				}
				for _, cm := range All[corev1.ConfigMap](m) {
					if cm.Labels["grafana_dashboard"] != "etcd" || cm.Annotations["grafana_folder"] != "etcd" {
						t.Errorf("dashboard ConfigMap %s: labels %v annotations %v", cm.Name, cm.Labels, cm.Annotations)
					}
				}
				amc := mustOne[monitoringv1alpha1.AlertmanagerConfig](t, m)
				if amc.Labels["alertmanagerConfig"] != "main" || amc.Namespace != "prometheus" || len(amc.Spec.Receivers) != 2 {
					t.Errorf("AlertmanagerConfig %+v", amc.ObjectMeta)
				}
				if url := amc.Spec.Receivers[0].WebhookConfigs[0].URL; url == nil || string(*url) != "http://mon-etcd-monitor.monitoring.svc:9379/api/v1/alerts" {
					t.Errorf("webhook URL %v, want the release's Service", url)
				}
				if rk := amc.Spec.Receivers[1].PagerDutyConfigs[0].RoutingKey; rk == nil || rk.Name != "etcd-monitor-pagerduty" {
					t.Errorf("PagerDuty routing key %+v: want a Secret reference", rk)
				}
				pdb := mustOne[policyv1.PodDisruptionBudget](t, m)
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("PDB maxUnavailable %v, want 1 (a node drain must not block)", pdb.Spec.MaxUnavailable)
				}
				np := mustOne[networkingv1.NetworkPolicy](t, m)
				if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.StrVal != "http" {
					t.Errorf("NetworkPolicy ingress %+v", np.Spec.Ingress)
				}
			},
			accepted: []string{`cluster "kubernetes": 1 endpoint,`},
		},
	}
}

// TestSetups renders each documented setup, decodes every object strictly
// into the API types, checks what the setup is for, and runs the rendered
// serve arguments through the real binary's --config.check with the pod's
// volumes laid out as the kubelet would.
func TestSetups(t *testing.T) {
	h := NewHelm(t)
	p := newPKI(t)
	for _, s := range setups() {
		t.Run(s.name, func(t *testing.T) {
			root := t.TempDir()
			m := render(t, h, fmt.Sprintf(s.values, root))
			node := s.node(t, p)
			proc, err := Container(m, node, root)
			if err != nil {
				t.Fatal(err)
			}
			s.check(t, m, proc)
			if len(proc.Args) == 0 || proc.Args[0] != "serve" {
				t.Fatalf("args %v do not run serve", proc.Args)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, monitorBin, append(proc.Args, "--config.check")...)
			// The pod's environment (GOMEMLIMIT, ETCD_MONITOR_SHARD_INDEX), and
			// no ETCD_MONITOR_* from the test's.
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, proc.Env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s etcd-monitor %s --config.check: %v\n%s", strings.Join(proc.Env, " "), strings.Join(proc.Args, " "), err, out)
			}
			for _, want := range append(s.accepted, "configuration OK") {
				if !strings.Contains(string(out), want) {
					t.Errorf("--config.check output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestLint runs helm lint --strict on the defaults and on every setup.
func TestLint(t *testing.T) {
	h := NewHelm(t)
	for _, s := range setups() {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(fmt.Sprintf(s.values, "/etc/etcd-monitor")), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := h.Run("lint", "--strict", "--kube-version", KubeVersion, ChartDir(), "--values", f)
		if err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%s: helm lint --strict: %v\n%s%s", s.name, err, out, stderr)
		}
	}
}

// TestSchemaRefusesBadValues: values.schema.json and the templates' checks
// refuse what would render a broken pod, with a message naming the field.
func TestSchemaRefusesBadValues(t *testing.T) {
	h := NewHelm(t)
	for _, c := range []struct {
		values string
		want   []string
	}{
		{"port: \"9379\"\n", []string{"port", "got string, want integer"}},
		{"serviceMonitor:\n  enabled: \"yes\"\n", []string{"serviceMonitor", "enabled", "got string, want boolean"}},
		{"etcd:\n  endpoints: http://etcd:2379\n", []string{"endpoints", "got string, want array"}},
		{"preset: kubeadmin\n", []string{"preset", "kubeadm"}},
		{"prometheusRule:\n  selectors:\n    etcd: '{job=\"etcd\"}'\n", []string{"selectors", "etcd"}},
		{"prometheusRule:\n  clusterLabel: etcd-cluster\n", []string{"clusterLabel"}},
		{"serviceMonitor:\n  intervall: 30s\n", []string{"intervall"}},
		{"prometheusRule:\n  disabledAlerts: [EtcdNoSuchAlert]\n", []string{`no alert is named "EtcdNoSuchAlert"`}},
		{"etcd:\n  auth:\n    username: monitor\n", []string{"etcd.auth.passwordSecret.name"}},
		{"web:\n  basicAuth: true\n  existingSecret: w\n", []string{"serviceMonitor.basicAuth"}},
		{"etcd:\n  endpoints: []\n", []string{"etcd.endpoints"}},
		{"sharding:\n  shards: 0\n", []string{"sharding", "shards", "minimum"}},
		{"sharding:\n  shards: 2.5\n", []string{"shards", "want integer"}},
		{"sharding:\n  shards: 3\n", []string{"sharding.shards", "clusters"}},
		// Passwords only from Secrets: an inline one would be written into the ConfigMap.
		{"clusters:\n  - {name: a, endpoints: [http://a:2379], username: u, password: hunter2}\n", []string{"/clusters/0/password", "passwordSecret"}},
		// HTTPS with no CA: every scrape would fail certificate verification.
		{"web: {existingSecret: w, tls: true}\n", []string{"serviceMonitor.tlsConfig", "insecureSkipVerify"}},
		{"web: {existingSecret: w, tls: true}\nserviceMonitor: {enabled: false}\nalertmanagerConfig: {enabled: true}\n", []string{"serviceMonitor.tlsConfig"}},
		// Basic auth and the bearer token both need the Authorization header.
		{"web: {existingSecret: w, basicAuth: true}\nserviceMonitor: {basicAuth: {username: {name: s, key: u}, password: {name: s, key: p}}}\nwebhookToken: {existingSecret: t}\n", []string{"webhookToken", "web.basicAuth"}},
		// The preset's host files are not mounted with clusters.
		{"preset: kubeadm\nclusters:\n  - {name: a, endpoints: [http://a:2379]}\n", []string{"preset=kubeadm", "clusters"}},
	} {
		_, err := h.Template(t, c.values)
		if err == nil {
			t.Errorf("values %q rendered; want an error", c.values)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("values %q: error %q does not say %q", c.values, err, w)
			}
		}
	}
}

// TestPrometheusRuleMatchesGenerator renders the PrometheusRule for the
// default selectors, the kube-prometheus-stack preset and custom settings,
// compares its groups with the rules generator's output for the same
// settings, and runs promtool check rules over them.
func TestPrometheusRuleMatchesGenerator(t *testing.T) {
	h := NewHelm(t)
	promtool := testbin.Require(t, "run `make tools`", "promtool")
	for _, c := range []struct {
		name   string
		values string
		cfg    func(*rules.Config)
	}{
		{"defaults", "", func(*rules.Config) {}},
		{"kube-prometheus-stack preset", "prometheusRule: {preset: kube-prometheus-stack}\n", func(c *rules.Config) {
			c.Selectors.Etcd = `job="kube-etcd"`
			c.Selectors.Node = `job="node-exporter"`
		}},
		// The chart's own etcd ServiceMonitor labels the series job="etcd",
		// which the rules must read whatever the preset says.
		{"kube-prometheus-stack preset with the chart's etcd ServiceMonitor", "prometheusRule: {preset: kube-prometheus-stack}\netcdMetrics: {enabled: true}\n", func(c *rules.Config) {
			c.Selectors.Node = `job="node-exporter"`
		}},
		{"etcdMetrics.jobName", "etcdMetrics: {enabled: true, jobName: etcd-main}\n", func(c *rules.Config) {
			c.Selectors.Etcd = `job="etcd-main"`
		}},
		{"custom", `serviceMonitor: {jobName: etcd-mon}
prometheusRule:
  clusterLabel: cluster
  selectors: {etcd: 'job="etcd",namespace="kube-system"', snapshot: 'job="pushgateway"'}
  runbookUrl: https://wiki.example.com/etcd
  disabledAlerts: [EtcdClockOffset, EtcdDiskSpaceLow]
`, func(c *rules.Config) {
			c.Selectors.Monitor = `job="etcd-mon"`
			c.Selectors.Etcd = `job="etcd",namespace="kube-system"`
			c.Selectors.Snapshot = `job="pushgateway"`
			c.ClusterLabel = "cluster"
			c.RunbookURL = "https://wiki.example.com/etcd"
			c.DisabledAlerts = []string{"EtcdClockOffset", "EtcdDiskSpaceLow"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := render(t, h, c.values)
			pr := mustOne[monitoringv1.PrometheusRule](t, m)
			cfg := rules.DefaultConfig()
			c.cfg(&cfg)
			want, err := rules.Build(cfg, rules.ProfileDefault)
			if err != nil {
				t.Fatal(err)
			}
			// The generator's groups, in its own YAML, decoded into the
			// operator's type, so both sides go through the same decoding.
			wantYAML, err := yamlv3.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var wantSpec monitoringv1.PrometheusRuleSpec
			if err := yaml.UnmarshalStrict(wantYAML, &wantSpec); err != nil {
				t.Fatal(err)
			}
			got, _ := yaml.Marshal(pr.Spec)
			exp, _ := yaml.Marshal(wantSpec)
			if !bytes.Equal(got, exp) {
				t.Fatalf("rendered groups differ from the generator's:\n%s", firstDiff(string(got), string(exp)))
			}
			if n := countRules(pr.Spec); n < 40 {
				t.Fatalf("only %d rules rendered", n)
			}
			f := filepath.Join(t.TempDir(), "rules.yml")
			if err := os.WriteFile(f, got, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check rules: %v\n%s", err, out)
			}
		})
	}
}

// TestDashboardConfigMaps: each dashboard ConfigMap holds dashboards/*.json
// byte for byte, one per dashboard, with the sidecar's label.
func TestDashboardConfigMaps(t *testing.T) {
	m := render(t, NewHelm(t), "")
	want := map[string][]byte{}
	names, _ := fs.Glob(dashboards.FS(), "*.json")
	for _, n := range names {
		want[n], _ = fs.ReadFile(dashboards.FS(), n)
	}
	got := map[string][]byte{}
	for _, cm := range All[corev1.ConfigMap](m) {
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s lacks grafana_dashboard: \"1\"", cm.Name)
		}
		for k, v := range cm.Data {
			got[k] = []byte(v)
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("ConfigMaps hold %d dashboards, dashboards/ has %d", len(got), len(want))
	}
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("ConfigMap data %s differs from dashboards/%s", n, n)
		}
	}
}

func render(t *testing.T, h *Helm, values string) Manifest {
	t.Helper()
	out, err := h.Template(t, values)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loopbackPod lays out the rendered workload's pod for node under root
// (Container) and returns its process, listening on a free loopback address
// instead of every interface (in a pod, the pod's own), and that address.
func loopbackPod(t *testing.T, m Manifest, node Node, root string) (Process, string) {
	t.Helper()
	pod, err := Container(m, node, root)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pod.Args, func(a string) bool { return strings.HasPrefix(a, "--web.listen-address=") })
	if i < 0 {
		t.Fatalf("args %v set no listen address", pod.Args)
	}
	addr := freeport.Addr(t)
	pod.Args[i] = "--web.listen-address=" + addr
	return pod, addr
}

func mustOne[T any](t *testing.T, m Manifest) *T {
	t.Helper()
	v, err := One[T](m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func serviceMonitorNamed(t *testing.T, m Manifest, name string) *monitoringv1.ServiceMonitor {
	t.Helper()
	for _, sm := range All[monitoringv1.ServiceMonitor](m) {
		if sm.Name == name {
			return sm
		}
	}
	t.Fatalf("no ServiceMonitor %s", name)
	return nil
}

func hasRelabel(rcs []monitoringv1.RelabelConfig, target, replacement string) bool {
	for _, rc := range rcs {
		if rc.TargetLabel == target && rc.Replacement != nil && *rc.Replacement == replacement {
			return true
		}
	}
	return false
}

// fleet are the clusters of the sharded setups: with 3 shards, two each.
var fleet = []string{"prod-a", "prod-b", "prod-c", "prod-d", "prod-e", "prod-f"}

// fleetValues are values sharding fleet over shards replicas, cluster i at
// endpoint(i); %[1]s is the mount path.
func fleetValues(shards int, endpoint func(i int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mountPath: %%[1]s\nsharding: {shards: %d}\nextraArgs: [--health-check-interval=30s, --probe.interval=10s]\nclusters:\n", shards)
	for i, name := range fleet {
		fmt.Fprintf(&b, "  - {name: %s, endpoints: [%q]}\n", name, endpoint(i))
	}
	return b.String()
}

// fleetShards are the --config.check lines of fleetValues: each cluster's
// shard by the hash serve uses.
func fleetShards(shards int) []string {
	var lines []string
	for _, name := range fleet {
		lines = append(lines, fmt.Sprintf("cluster %q: 1 endpoint, checked every 30s, probes every 10s, shard %d\n", name, clusterconfig.ShardOf(name, shards)))
	}
	return lines
}

// selects says whether a non-empty label selector matches labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// envVar is the container's variable name, or nil.
func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// wantEnv fails unless the process's environment, as the kubelet resolves
// it, holds each NAME=value.
func wantEnv(t *testing.T, proc Process, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(proc.Env, w) {
			t.Errorf("env %v lacks %s", proc.Env, w)
		}
	}
}

func wantArgs(t *testing.T, args []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("args %v lack %s", args, w)
		}
	}
}

func objectLabels(o Object) map[string]string {
	b, _ := yaml.Marshal(o.Value)
	var meta struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(b, &meta)
	return meta.Metadata.Labels
}

// ruleExprs is every rule's expression, one a line.
func ruleExprs(s monitoringv1.PrometheusRuleSpec) string {
	var b strings.Builder
	for _, g := range s.Groups {
		for _, r := range g.Rules {
			b.WriteString(r.Expr.String())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func countRules(s monitoringv1.PrometheusRuleSpec) int {
	n := 0
	for _, g := range s.Groups {
		n += len(g.Rules)
	}
	return n
}

// firstDiff shows the first differing line of two texts with some context.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n chart:     %s\n generator: %s", i+1, x, y)
		}
	}
	return "(equal)"
}

// TestNames: nameOverride and fullnameOverride rename every object and the
// name label, and the Service and ServiceMonitor still find the pod.
func TestNames(t *testing.T) {
	h := NewHelm(t)
	for _, c := range []struct {
		values, fullname, name string
	}{
		{"", "mon-etcd-monitor", "etcd-monitor"},
		{"nameOverride: etcdmon\n", "mon-etcdmon", "etcdmon"},
		{"fullnameOverride: etcd-watch\n", "etcd-watch", "etcd-monitor"},
	} {
		m := render(t, h, c.values)
		dep := mustOne[appsv1.Deployment](t, m)
		if dep.Name != c.fullname || dep.Spec.Template.Labels["app.kubernetes.io/name"] != c.name {
			t.Errorf("%q: Deployment %s with name label %q, want %s and %s", c.values, dep.Name, dep.Spec.Template.Labels["app.kubernetes.io/name"], c.fullname, c.name)
		}
		svc := mustOne[corev1.Service](t, m)
		for k, v := range svc.Spec.Selector {
			if dep.Spec.Template.Labels[k] != v {
				t.Errorf("%q: Service selector %v does not select the pod %v", c.values, svc.Spec.Selector, dep.Spec.Template.Labels)
			}
		}
		sm := serviceMonitorNamed(t, m, c.fullname)
		for k, v := range sm.Spec.Selector.MatchLabels {
			if svc.Labels[k] != v {
				t.Errorf("%q: ServiceMonitor selector %v does not select the Service %v", c.values, sm.Spec.Selector.MatchLabels, svc.Labels)
			}
		}
		if pr := mustOne[monitoringv1.PrometheusRule](t, m); pr.Name != c.fullname {
			t.Errorf("%q: PrometheusRule %s, want %s", c.values, pr.Name, c.fullname)
		}
	}
}

// TestWithoutTheOperator: on a cluster without the Prometheus Operator's
// CRDs (a bare kubeadm cluster) the chart still installs the monitor, and
// leaves out the objects the API server would refuse.
func TestWithoutTheOperator(t *testing.T) {
	out, err := NewHelm(t).TemplateFor(t, "preset: kubeadm\netcdMetrics: {enabled: true}\nalertmanagerConfig: {enabled: true}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	mustOne[appsv1.Deployment](t, m)
	for _, o := range m {
		switch o.Value.(type) {
		case *monitoringv1.ServiceMonitor, *monitoringv1.PrometheusRule, *monitoringv1alpha1.AlertmanagerConfig:
			t.Errorf("%s %s rendered for a cluster without the Prometheus Operator", o.Kind, o.Name)
		}
	}
}
