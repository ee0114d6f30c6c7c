package clusterconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// The fields each mapping accepts. Anything else is refused: a misspelt
// optional field would otherwise be silently ignored and its default used.
var (
	topFields     = []string{"clusters"}
	clusterFields = []string{
		"name", "endpoints",
		"ca_file", "cert_file", "key_file", "insecure_skip_verify",
		"username", "password_file",
		"dial_timeout", "request_timeout",
		"health_check_interval", "quota_backend_bytes", "hashkv_interval",
		"probe",
	}
	probeFields = []string{"interval", "timeout", "write", "key_prefix"}
)

type parser struct {
	file     string
	dir      string
	defaults Defaults
	// budget is how many more values (mapping entries, list items) may be
	// visited, of limit. Aliases let a small file name the same large list
	// from every entry, so work is bounded by the file's size, not by what
	// its aliases expand to.
	budget, limit int
}

func newParser(name string, data []byte, defaults Defaults) *parser {
	// A file without aliases has fewer values than bytes: it is never
	// refused for size here.
	limit := 1<<20 + 2*len(data)
	return &parser{file: name, dir: filepath.Dir(name), defaults: defaults.withBuiltins(), budget: limit, limit: limit}
}

// spend charges one visited value, refusing the file once its aliases have
// expanded it past the limit.
func (p *parser) spend(n *yaml.Node, path string) error {
	p.budget--
	if p.budget < 0 {
		return p.errf(n.Line, path, "aliases expand the file to more than %d values", p.limit)
	}
	return nil
}

// entry is one cluster after the static checks, before its files are read.
type entry struct {
	cfg    collector.ClusterConfig
	fields *fields
}

// parse checks the structure and values of the whole file, touching no other
// file.
func (p *parser) parse(data []byte) ([]*entry, error) {
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	top, err := p.mapping(root, "", topFields)
	if err != nil {
		return nil, err
	}
	list, ok := top.vals["clusters"]
	if !ok {
		return nil, p.errf(top.line, "clusters", "required: the list of clusters to watch")
	}
	switch {
	case isNull(list):
		return nil, p.errf(list.Line, "clusters", "no clusters configured")
	case list.Kind != yaml.SequenceNode:
		return nil, p.errf(list.Line, "clusters", "want a list of clusters, got %s", kind(list))
	case len(list.Content) == 0:
		return nil, p.errf(list.Line, "clusters", "no clusters configured")
	}
	entries := make([]*entry, 0, len(list.Content))
	firstLine := map[string]int{} // cluster name → line of its name
	for i, item := range list.Content {
		path := fmt.Sprintf("clusters[%d]", i)
		if err := p.spend(item, path); err != nil {
			return nil, err
		}
		n := resolve(item)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil, p.errf(item.Line, path, "want a cluster (a mapping with name, endpoints, …), got %s", kind(n))
		}
		f, err := p.mapping(n, path, clusterFields)
		if err != nil {
			return nil, err
		}
		e, err := p.cluster(f)
		if err != nil {
			return nil, err
		}
		nameLine := f.vals["name"].Line
		if item.Kind == yaml.AliasNode {
			// The same entry again: its name is written at the anchor,
			// the repetition is here.
			nameLine = item.Line
		}
		if first, dup := firstLine[e.cfg.Name]; dup {
			return nil, p.errf(nameLine, f.sub("name"), "duplicate cluster name %q (first at line %d)", e.cfg.Name, first)
		}
		firstLine[e.cfg.Name] = nameLine
		entries = append(entries, e)
	}
	return entries, nil
}

// document parses data as exactly one YAML document and returns its root.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errf(1, "clusters", "the file is empty: list the clusters to watch under clusters:")
		}
		return nil, p.syntaxError(data, err, 1)
	}
	// Decode reads one document; without this, anything after a stray
	// "---" (or a second closing bracket) would be silently ignored.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.syntaxError(data, err, lastLine(&doc))
	default:
		return nil, p.errf(max(next.Line, 1), "syntax error", "a second YAML document: the file must hold one")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, p.errf(max(doc.Line, 1), "clusters", "the file is empty: list the clusters to watch under clusters:")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root.Line, "top level", "want a mapping with a clusters: list, got %s", kind(root))
	}
	return root, nil
}

// cluster reads one cluster entry into a ClusterConfig, inheriting the
// defaults, and checks every value that can be checked without reading
// files.
func (p *parser) cluster(f *fields) (*entry, error) {
	d := p.defaults
	name, ok, err := p.str(f, "name")
	if err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return nil, p.errf(f.line, f.sub("name"), "required")
	case name == "":
		return nil, p.errf(f.vals["name"].Line, f.sub("name"), "must not be empty")
	case !nameRE.MatchString(name):
		return nil, p.errf(f.vals["name"].Line, f.sub("name"), "%q: use only letters, digits, '_', '.' and '-'", name)
	}
	endpoints, err := p.endpoints(f)
	if err != nil {
		return nil, err
	}
	conn := &etcdconn.Config{Endpoints: endpoints}
	for _, s := range []struct {
		key string
		dst *string
	}{
		{"ca_file", &conn.CAFile}, {"cert_file", &conn.CertFile}, {"key_file", &conn.KeyFile},
		{"username", &conn.Username}, {"password_file", &conn.PasswordFile},
	} {
		if *s.dst, _, err = p.str(f, s.key); err != nil {
			return nil, err
		}
	}
	// Relative to the config file, as Prometheus does: the file and the
	// material it names are deployed together, wherever the monitor's
	// working directory happens to be.
	for _, path := range []*string{&conn.CAFile, &conn.CertFile, &conn.KeyFile, &conn.PasswordFile} {
		if *path != "" && !filepath.IsAbs(*path) {
			*path = filepath.Join(p.dir, *path)
		}
	}
	if conn.InsecureSkipVerify, _, err = p.boolean(f, "insecure_skip_verify", false); err != nil {
		return nil, err
	}
	if conn.DialTimeout, err = p.interval(f, "dial_timeout", d.DialTimeout, false); err != nil {
		return nil, err
	}
	if conn.RequestTimeout, err = p.interval(f, "request_timeout", d.RequestTimeout, false); err != nil {
		return nil, err
	}
	cfg := collector.ClusterConfig{Name: name, Conn: conn}
	if cfg.HealthCheckInterval, err = p.interval(f, "health_check_interval", d.HealthCheckInterval, false); err != nil {
		return nil, err
	}
	if cfg.HashKVInterval, err = p.interval(f, "hashkv_interval", d.HashKVInterval, true); err != nil {
		return nil, err
	}
	if cfg.QuotaBackendBytes, err = p.quota(f, d.QuotaBackendBytes); err != nil {
		return nil, err
	}
	if cfg.Probe, err = p.probe(f, conn.RequestTimeout); err != nil {
		return nil, err
	}
	return &entry{cfg: cfg, fields: f}, nil
}

func (p *parser) endpoints(f *fields) ([]string, error) {
	key := f.sub("endpoints")
	v, ok := f.vals["endpoints"]
	switch {
	case !ok:
		return nil, p.errf(f.line, key, "at least one endpoint is required")
	case isNull(v):
		return nil, p.errf(v.Line, key, "at least one endpoint is required")
	case v.Kind != yaml.SequenceNode:
		return nil, p.errf(v.Line, key, "want a list of endpoints, got %s", kind(v))
	case len(v.Content) == 0:
		return nil, p.errf(f.keys["endpoints"].Line, key, "at least one endpoint is required")
	}
	eps := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		path := fmt.Sprintf("%s[%d]", key, i)
		if err := p.spend(item, path); err != nil {
			return nil, err
		}
		n := resolve(item)
		if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
			return nil, p.errf(item.Line, path, "want an endpoint (host:port or http(s)://host:port), got %s", kind(n))
		}
		// Load checks endpoints too, but cannot say which list item is
		// wrong; the scheme chosen here does not change what is valid.
		if _, err := etcdconn.NormalizeEndpoint(n.Value, false); err != nil {
			return nil, p.errf(n.Line, path, "%v", err)
		}
		eps = append(eps, n.Value)
	}
	return eps, nil
}

func (p *parser) quota(f *fields, def int64) (int64, error) {
	v, ok := f.vals["quota_backend_bytes"]
	if !ok {
		if def <= 0 {
			return 0, p.errf(f.line, f.sub("quota_backend_bytes"), "must be positive, got %d from the command line", def)
		}
		return def, nil
	}
	var q int64
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&q) != nil {
		return 0, p.errf(v.Line, f.sub("quota_backend_bytes"), "want a number of bytes, got %s", describe(v))
	}
	if q <= 0 {
		return 0, p.errf(v.Line, f.sub("quota_backend_bytes"), "must be positive, got %d", q)
	}
	return q, nil
}

func (p *parser) probe(cf *fields, requestTimeout time.Duration) (collector.ProbeConfig, error) {
	pc := p.defaults.Probe
	// Without a probe section every probe field is inherited.
	f := &fields{path: cf.sub("probe"), line: cf.line, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	if v, ok := cf.vals["probe"]; ok {
		if v.Kind != yaml.MappingNode {
			return pc, p.errf(v.Line, cf.sub("probe"), "want a mapping (interval, timeout, write, key_prefix), got %s", kind(v))
		}
		var err error
		if f, err = p.mapping(v, cf.sub("probe"), probeFields); err != nil {
			return pc, err
		}
	}
	var err error
	if pc.Interval, err = p.interval(f, "interval", pc.Interval, true); err != nil {
		return pc, err
	}
	timeout, explicit, err := p.duration(f, "timeout")
	if err != nil {
		return pc, err
	}
	if pc.Write, _, err = p.boolean(f, "write", pc.Write); err != nil {
		return pc, err
	}
	if prefix, ok, err := p.str(f, "key_prefix"); err != nil {
		return pc, err
	} else if ok {
		if prefix == "" {
			return pc, p.errf(f.vals["key_prefix"].Line, f.sub("key_prefix"), "must not be empty (probe keys would be written at the top of the keyspace)")
		}
		pc.KeyPrefix = prefix
	}
	switch {
	case explicit:
		line := f.vals["timeout"].Line
		if timeout <= 0 {
			return pc, p.errf(line, f.sub("timeout"), "must be positive, got %s", timeout)
		}
		// Rounds do not overlap, so a timeout longer than the interval
		// would let one slow member stretch the probe interval itself.
		if pc.Interval > 0 && timeout > pc.Interval {
			return pc, p.errf(line, f.sub("timeout"), "%s is longer than probe.interval %s", timeout, pc.Interval)
		}
		pc.Timeout = timeout
	case pc.Timeout < 0:
		return pc, p.errf(f.line, f.sub("timeout"), "must be positive, got %s from the command line", pc.Timeout)
	case pc.Timeout == 0:
		// The --probe.timeout default, resolved here so the config is
		// complete.
		pc.Timeout = requestTimeout
	}
	if pc.Interval > 0 {
		// An inherited timeout is capped rather than refused: the flag was
		// right for the flags' interval, this cluster asked for a shorter one.
		pc.Timeout = min(pc.Timeout, pc.Interval)
	}
	return pc, nil
}

// fields is one YAML mapping's settings after merge keys are applied.
type fields struct {
	path string // "clusters[0]"; "" at the top level
	line int    // of the mapping, for errors about absent fields
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node // aliases resolved
}

func (f *fields) sub(key string) string {
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

// maxMergeDepth bounds merge keys whose mappings themselves merge others.
const maxMergeDepth = 32

func (p *parser) mapping(m *yaml.Node, path string, allowed []string) (*fields, error) {
	f := &fields{path: path, line: m.Line, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	return f, p.collect(f, m, allowed, 0, map[*yaml.Node]bool{})
}

// collect adds m's keys to f. Explicit keys win over merged ones, and
// earlier merged mappings over later ones, as in YAML's merge key spec. A
// mapping merged twice adds nothing the second time: skipping it keeps
// "&a {<<: *a}" (legal YAML, a cycle) and fan-out of aliases from costing
// more than the document's size.
func (p *parser) collect(f *fields, m *yaml.Node, allowed []string, depth int, seen map[*yaml.Node]bool) error {
	if seen[m] {
		return nil
	}
	seen[m] = true
	if depth > maxMergeDepth {
		return p.errf(m.Line, f.sub("<<"), "merge keys nested more than %d deep", maxMergeDepth)
	}
	first := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, v := m.Content[i], m.Content[i+1]
		if err := p.spend(kn, f.pathOrTop()); err != nil {
			return err
		}
		k := resolve(kn)
		if k == nil || k.Kind != yaml.ScalarNode {
			return p.errf(kn.Line, f.pathOrTop(), "want a field name as key, got %s", kind(k))
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key := k.Value
		if line, dup := first[key]; dup {
			return p.errf(kn.Line, f.sub(key), "duplicate field (first at line %d)", line)
		}
		first[key] = kn.Line
		if f.path == "" && strings.HasPrefix(key, "x-") {
			// Docker Compose's convention: top-level x- keys hold anchors
			// for entries to merge, and are otherwise ignored.
			continue
		}
		if !slices.Contains(allowed, key) {
			return p.unknownField(f, kn, key, allowed)
		}
		if _, set := f.vals[key]; set {
			continue
		}
		rv := resolve(v)
		if rv == nil {
			return p.errf(v.Line, f.sub(key), "alias to nothing")
		}
		f.keys[key] = kn
		f.vals[key] = rv
	}
	for _, mv := range merges {
		n := resolve(mv)
		switch {
		case n != nil && n.Kind == yaml.MappingNode:
			if err := p.collect(f, n, allowed, depth+1, seen); err != nil {
				return err
			}
		case n != nil && n.Kind == yaml.SequenceNode:
			for _, item := range n.Content {
				if err := p.spend(item, f.sub("<<")); err != nil {
					return err
				}
				in := resolve(item)
				if in == nil || in.Kind != yaml.MappingNode {
					return p.errf(item.Line, f.sub("<<"), "want a mapping to merge, got %s", kind(in))
				}
				if err := p.collect(f, in, allowed, depth+1, seen); err != nil {
					return err
				}
			}
		default:
			return p.errf(mv.Line, f.sub("<<"), "want a mapping or a list of mappings to merge, got %s", kind(n))
		}
	}
	return nil
}

func (f *fields) pathOrTop() string {
	if f.path == "" {
		return "top level"
	}
	return f.path
}

func (p *parser) unknownField(f *fields, kn *yaml.Node, key string, allowed []string) error {
	if key == "password" && slices.Contains(allowed, "password_file") {
		// Never echo the value: it is a secret that should not be here.
		return p.errf(kn.Line, f.sub(key), "passwords are not accepted in the config file: write the password to a file and set password_file")
	}
	if s := suggest(key, allowed); s != "" {
		return p.errf(kn.Line, f.sub(key), "unknown field, did you mean %s?", s)
	}
	return p.errf(kn.Line, f.sub(key), "unknown field (known: %s)", strings.Join(allowed, ", "))
}

// str returns a string field; ok is false when the field is absent.
func (p *parser) str(f *fields, key string) (s string, ok bool, err error) {
	v, ok := f.vals[key]
	if !ok {
		return "", false, nil
	}
	if v.Kind != yaml.ScalarNode || isNull(v) {
		return "", false, p.errf(v.Line, f.sub(key), "want a string, got %s", kind(v))
	}
	return v.Value, true, nil
}

// duration returns a duration field; ok is false when it is absent.
func (p *parser) duration(f *fields, key string) (d time.Duration, ok bool, err error) {
	v, ok := f.vals[key]
	if !ok {
		return 0, false, nil
	}
	if v.Kind != yaml.ScalarNode || isNull(v) {
		return 0, false, p.errf(v.Line, f.sub(key), "want a duration such as 10s or 1m30s, got %s", kind(v))
	}
	// time.ParseDuration, not yaml's Decode: Decode takes a bare number as
	// nanoseconds, and "10" meaning 10ns is never what was meant.
	d, err = time.ParseDuration(v.Value)
	if err != nil {
		return 0, false, p.errf(v.Line, f.sub(key), "want a duration such as 10s or 1m30s, got %q", v.Value)
	}
	return d, true, nil
}

// interval returns a duration field or, when absent, def; it must be
// positive, or not negative when zero means off.
func (p *parser) interval(f *fields, key string, def time.Duration, zeroOff bool) (time.Duration, error) {
	d, ok, err := p.duration(f, key)
	if err != nil {
		return 0, err
	}
	line, from := f.line, " from the command line"
	if ok {
		line, from = f.vals[key].Line, ""
	} else {
		d = def
	}
	switch {
	case d < 0 && zeroOff:
		return 0, p.errf(line, f.sub(key), "must not be negative (0s turns it off), got %s%s", d, from)
	case d <= 0 && !zeroOff:
		return 0, p.errf(line, f.sub(key), "must be positive, got %s%s", d, from)
	}
	return d, nil
}

// boolean returns a bool field or, when absent, def. Only true and false are
// accepted: yes/no/on/off are YAML 1.1 and mean strings in YAML 1.2.
func (p *parser) boolean(f *fields, key string, def bool) (b bool, ok bool, err error) {
	v, ok := f.vals[key]
	if !ok {
		return def, false, nil
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
		return false, false, p.errf(v.Line, f.sub(key), "want true or false, got %s", describe(v))
	}
	return b, true, nil
}

// resolve follows aliases to the node they name; nil if there is none.
func resolve(n *yaml.Node) *yaml.Node {
	// An alias names an anchored node, which is never an alias itself; the
	// bound is only a guard.
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kind names what a node is, for "want X, got Y" messages.
func kind(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && isNull(n):
		return "no value"
	case n.Kind == yaml.ScalarNode:
		return "a " + tagName(n) + " value"
	}
	return "an unsupported YAML node"
}

// describe quotes a scalar's text, or names the node kind.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return strconv.Quote(n.Value)
	}
	return kind(n)
}

func tagName(n *yaml.Node) string {
	switch n.ShortTag() {
	case "!!str":
		return "string"
	case "!!int":
		return "number"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	}
	return "scalar"
}

// lastLine is the last line of the document's nodes: where a syntax error
// that yaml reports without a line, found after the first document, is.
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return max(line, 1)
}
