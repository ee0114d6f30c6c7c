package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// What can be checked of docker-compose.yml without a container engine:
// it parses, every file it mounts exists, host ports do not clash, images
// are pinned (to the versions the tests run, where the tests run one), and
// the Prometheus and Alertmanager configurations it mounts pass promtool
// and amtool as they are laid out in the containers.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []any             `yaml:"volumes"`
	Profiles    []string          `yaml:"profiles"`
}

// mount is a volume entry: a bind mount of a host path or a named volume.
type mount struct {
	source, target string
	bind           bool
}

func (s composeService) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("volume %q: want source:target[:mode]", v)
				continue
			}
			src := parts[0]
			out = append(out, mount{source: src, target: parts[1], bind: strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")})
		case map[string]any:
			src, _ := v["source"].(string)
			tgt, _ := v["target"].(string)
			out = append(out, mount{source: src, target: tgt, bind: v["type"] == "bind"})
		default:
			t.Errorf("volume %v: unknown syntax", v)
		}
	}
	return out
}

// flag returns the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

var envRef = regexp.MustCompile(`\$\{(\w+)(?::?-([^}]*))?\}`)

// interpolate replaces ${VAR:-default} as compose does with no .env: by
// the default (vals overrides it).
func interpolate(s string, vals map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := vals[m[1]]; ok {
			return v
		}
		return m[2]
	})
}

func loadCompose(t *testing.T) (*composeFile, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c, string(b)
}

func readEnvExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not NAME=value", line)
			continue
		}
		out[k] = v
	}
	return out
}

func TestComposeServicesAndImages(t *testing.T) {
	c, _ := loadCompose(t)
	for _, s := range []string{"etcd-0", "etcd-1", "etcd-2", "etcd-monitor", "prometheus", "alertmanager", "pushgateway", "grafana"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("docker-compose.yml has no service %s", s)
		}
	}
	// The images the tests run (Makefile) are the ones deployed.
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makeVar := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("Makefile has no %s", name)
		}
		return string(m[1])
	}
	// Prometheus' Go module v0.3XX.Y is Prometheus 3.XX.Y.
	pv := makeVar("PROMETHEUS_VERSION")
	mv := regexp.MustCompile(`^v0\.3(\d\d)\.(\d+)$`).FindStringSubmatch(pv)
	if mv == nil {
		t.Fatalf("PROMETHEUS_VERSION %s: not of the form v0.3XX.Y", pv)
	}
	want := map[string]string{
		"prometheus":   fmt.Sprintf("prom/prometheus:v3.%d.%s", atoi(t, mv[1]), mv[2]),
		"alertmanager": "prom/alertmanager:" + makeVar("ALERTMANAGER_VERSION"),
	}
	for name, s := range c.Services {
		if s.Build != nil {
			if name != "etcd-monitor" {
				t.Errorf("service %s builds an image; only etcd-monitor is built here", name)
			}
			continue
		}
		if s.Image == "" {
			t.Errorf("service %s has neither image nor build", name)
			continue
		}
		if w := want[name]; w != "" && s.Image != w {
			t.Errorf("service %s runs %s; the tests run %s (Makefile)", name, s.Image, w)
		}
		if s.Image == "etcd-monitor:local" {
			continue // built by the etcd-monitor service
		}
		ref := s.Image
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		_, tag, ok := strings.Cut(ref, ":")
		if !ok || tag == "" || tag == "latest" || !regexp.MustCompile(`\d`).MatchString(tag) {
			t.Errorf("service %s: image %s is not pinned to a version", name, s.Image)
		}
	}
	if img := c.Services["etcd-0"].Image; !strings.Contains(img, "etcd:v3.") {
		t.Errorf("etcd image %s: want an etcd v3 release", img)
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Every bind-mounted host path exists in the repository, and every named
// volume is declared.
func TestComposeMountsExist(t *testing.T) {
	c, _ := loadCompose(t)
	n := 0
	for name, s := range c.Services {
		for _, m := range s.mounts(t) {
			if !m.bind {
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("service %s mounts volume %q, which is not declared", name, m.source)
				}
				continue
			}
			if filepath.IsAbs(m.source) {
				t.Errorf("service %s mounts %s: an absolute host path exists on one machine only", name, m.source)
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, m.source)); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, m.source, err)
			}
			n++
		}
	}
	t.Logf("%d bind mounts checked", n)
}

// Host ports are unique, with the defaults and with .env.example's values,
// and every variable compose reads is in .env.example with the same default.
func TestComposePorts(t *testing.T) {
	c, raw := loadCompose(t)
	env := readEnvExample(t)
	for _, m := range envRef.FindAllStringSubmatch(raw, -1) {
		v, ok := env[m[1]]
		if !ok {
			t.Errorf("docker-compose.yml reads ${%s}, which .env.example does not list", m[1])
		} else if v != m[2] {
			t.Errorf("${%s}: default %q in docker-compose.yml, %q in .env.example", m[1], m[2], v)
		}
	}
	for _, vals := range []map[string]string{nil, env} {
		seen := map[string]string{}
		for name, s := range c.Services {
			for _, p := range s.Ports {
				p = interpolate(p, vals)
				parts := strings.Split(p, ":")
				var hostPort string
				switch len(parts) {
				case 2:
					hostPort = parts[0]
				case 3:
					hostPort = parts[1]
				default:
					t.Errorf("service %s: port %q: want [ip:]host:container", name, p)
					continue
				}
				if _, err := net.LookupPort("tcp", hostPort); err != nil || hostPort == "" {
					t.Errorf("service %s: port %q: bad host port", name, p)
				}
				if other, dup := seen[hostPort]; dup {
					t.Errorf("host port %s is published by both %s and %s", hostPort, other, name)
				}
				seen[hostPort] = name
			}
		}
	}
}

// layout builds a directory that looks like the service's container
// filesystem as far as its bind mounts go, and returns its root.
func layout(t *testing.T, s composeService) string {
	t.Helper()
	root := t.TempDir()
	for _, m := range s.mounts(t) {
		if !m.bind {
			continue
		}
		dst := filepath.Join(root, m.target)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(repoRoot, m.source), dst); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The Prometheus configuration passes promtool as the container sees it,
// rule files included, and scrapes the services of the compose file.
func TestComposePrometheusConfig(t *testing.T) {
	promtool := testbin.Require(t, installHint, "promtool")
	c, _ := loadCompose(t)
	svc := c.Services["prometheus"]
	cfgPath := flagValue(svc.Command, "config.file")
	if cfgPath == "" {
		t.Fatal("prometheus service: no --config.file")
	}
	root := layout(t, svc)
	out, err := exec.Command(promtool, "check", "config", filepath.Join(root, cfgPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`SUCCESS: [1-9]\d* rules found`).Match(out) {
		t.Errorf("promtool found no rules through the mounted rule files:\n%s", out)
	}
	t.Logf("promtool check config:\n%s", out)

	b, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			HonorLabels   bool   `yaml:"honor_labels"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	clusterName := flagValue(c.Services["etcd-monitor"].Command, "cluster.name")
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, _, err := net.SplitHostPort(tg)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, tg, err)
					continue
				}
				if _, ok := c.Services[host]; !ok && host != "localhost" {
					t.Errorf("job %s scrapes %s, which is no service of docker-compose.yml", sc.JobName, tg)
				}
			}
			if sc.JobName == "etcd" && st.Labels["etcd_cluster"] != clusterName {
				t.Errorf("job etcd: etcd_cluster %q, but etcd-monitor runs with --cluster.name=%s: the rules join them on it", st.Labels["etcd_cluster"], clusterName)
			}
		}
		if sc.JobName == "pushgateway" && !sc.HonorLabels {
			t.Error("job pushgateway: honor_labels must be true to keep the pushed job, etcd_cluster and workload")
		}
	}
	// The rules select these jobs (rules/config.yml).
	for _, j := range []string{"etcd-monitor", "etcd", "pushgateway"} {
		if !jobs[j] {
			t.Errorf("no scrape job %q", j)
		}
	}
	if len(cfg.Alerting.Alertmanagers) == 0 || len(cfg.Alerting.Alertmanagers[0].StaticConfigs) == 0 ||
		!slices.Contains(cfg.Alerting.Alertmanagers[0].StaticConfigs[0].Targets, "alertmanager:9093") {
		t.Errorf("alerting: want alertmanager:9093, got %+v", cfg.Alerting)
	}
}

// The shipped Alertmanager configuration passes amtool as mounted, its
// secret files have examples in deploy/secrets, and its webhook reaches the
// etcd-monitor service.
func TestComposeAlertmanagerConfig(t *testing.T) {
	amtool := testbin.Require(t, installHint, "amtool")
	c, _ := loadCompose(t)
	svc := c.Services["alertmanager"]
	cfgPath := flagValue(svc.Command, "config.file")
	root := layout(t, svc)
	out, err := exec.Command(amtool, "check-config", filepath.Join(root, cfgPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "1 templates") {
		t.Errorf("amtool found no templates through the mounts:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	secretDir := ""
	for _, m := range svc.mounts(t) {
		if m.bind && m.source == "./deploy/secrets" {
			secretDir = m.target
		}
	}
	if secretDir == "" {
		t.Fatal("alertmanager service does not mount ./deploy/secrets")
	}
	files := regexp.MustCompile(`\w+_file:\s*(\S+)`).FindAllStringSubmatch(string(b), -1)
	if len(files) < 3 {
		t.Errorf("alertmanager.yml reads %d secret files, want Slack, PagerDuty and SMTP", len(files))
	}
	for _, f := range files {
		p := f[1]
		rel, err := filepath.Rel(secretDir, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("alertmanager.yml reads %s, outside the mounted %s", p, secretDir)
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "deploy", "secrets", rel+".example")); err != nil {
			t.Errorf("alertmanager.yml reads %s: deploy/secrets/%s.example is missing", p, rel)
		}
	}
	m := regexp.MustCompile(`url: (http://etcd-monitor:(\d+)/api/v1/alerts)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("alertmanager.yml: no webhook to http://etcd-monitor:PORT/api/v1/alerts")
	}
	if lst := flagValue(c.Services["etcd-monitor"].Command, "web.listen-address"); !strings.HasSuffix(lst, ":"+m[2]) {
		t.Errorf("the webhook posts to %s but etcd-monitor listens on %q", m[1], lst)
	}
}

// Grafana finds the data source and the dashboards where the provisioning
// files say.
func TestComposeGrafana(t *testing.T) {
	c, _ := loadCompose(t)
	svc := c.Services["grafana"]
	root := layout(t, svc)
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/grafana/provisioning/dashboards/etcd-monitor.yml"))
	if err != nil {
		t.Fatalf("dashboard provisioning not mounted at /etc/grafana/provisioning/dashboards: %v", err)
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	for _, p := range prov.Providers {
		matches, _ := filepath.Glob(filepath.Join(root, p.Options.Path, "*.json"))
		if len(matches) != 3 {
			t.Errorf("provider path %s holds %d dashboards in the container, want 3", p.Options.Path, len(matches))
		}
	}
	var ds struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	b, err = os.ReadFile(filepath.Join(root, "etc/grafana/provisioning/datasources/etcd-monitor.yml"))
	if err != nil {
		t.Fatalf("data source provisioning not mounted at /etc/grafana/provisioning/datasources: %v", err)
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil || u.Hostname() != "prometheus" || u.Port() != "9090" {
		t.Errorf("data source URL %q: want the prometheus service, http://prometheus:9090", ds.Datasources[0].URL)
	}
	if home := svc.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if _, err := os.Stat(filepath.Join(root, home)); err != nil {
			t.Errorf("home dashboard %s: %v", home, err)
		}
	}
}

// The Dockerfile builds a static binary in one stage and runs it as a
// non-root user on a minimal base in another.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	goArg := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "ARG":
			if v, ok := strings.CutPrefix(f[1], "GO_VERSION="); ok {
				goArg = v
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:") {
		t.Errorf("build stage %s: want golang", froms[0])
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s: want distroless/static or scratch (a static binary needs nothing else)", final)
	}
	if len(users) == 0 || users[len(users)-1] == "root" || strings.HasPrefix(users[len(users)-1], "0") {
		t.Errorf("USER %v: the final stage must run as a non-root user", users)
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") {
		t.Error("the binary must be built with CGO_ENABLED=0 (static)")
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil || !strings.HasPrefix(goArg, string(m[1])) {
		t.Errorf("GO_VERSION %q does not match go.mod's go %s", goArg, m[1])
	}
	di, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"deploy/secrets/", ".git", "bin/"} {
		if !strings.Contains(string(di), p) {
			t.Errorf(".dockerignore does not keep %s out of the build context", p)
		}
	}
}
