package clusterconfig

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/yamlerr"
)

// The file as yaml.v3 decodes it, with known fields only (KnownFields): a
// misspelt optional field would otherwise be silently ignored and its
// default used. Values are kept as nodes and converted by entry, so a
// problem is reported with its field's path and line, and "absent" (the
// flag's value is inherited) is told apart from every given value.
type fileYAML struct {
	Clusters []clusterYAML `yaml:"clusters"`
	// Rest holds the other top-level keys: "x-" keys (anchors to merge)
	// are ignored, anything else is refused.
	Rest map[string]yaml.Node `yaml:",inline"`
}

type clusterYAML struct {
	Name                yaml.Node  `yaml:"name"`
	Endpoints           yaml.Node  `yaml:"endpoints"`
	CAFile              yaml.Node  `yaml:"ca_file"`
	CertFile            yaml.Node  `yaml:"cert_file"`
	KeyFile             yaml.Node  `yaml:"key_file"`
	InsecureSkipVerify  yaml.Node  `yaml:"insecure_skip_verify"`
	Username            yaml.Node  `yaml:"username"`
	PasswordFile        yaml.Node  `yaml:"password_file"`
	DialTimeout         yaml.Node  `yaml:"dial_timeout"`
	RequestTimeout      yaml.Node  `yaml:"request_timeout"`
	HealthCheckInterval yaml.Node  `yaml:"health_check_interval"`
	QuotaBackendBytes   yaml.Node  `yaml:"quota_backend_bytes"`
	HashKVInterval      yaml.Node  `yaml:"hashkv_interval"`
	Probe               *probeYAML `yaml:"probe"`
}

type probeYAML struct {
	Interval  yaml.Node `yaml:"interval"`
	Timeout   yaml.Node `yaml:"timeout"`
	Write     yaml.Node `yaml:"write"`
	KeyPrefix yaml.Node `yaml:"key_prefix"`
}

var (
	topFields     = yamlerr.Known(reflect.TypeFor[fileYAML]())
	clusterFields = yamlerr.Known(reflect.TypeFor[clusterYAML]())
	probeFields   = yamlerr.Known(reflect.TypeFor[probeYAML]())
)

// inherited are the fields an entry takes from the command line when it
// leaves them out.
var inherited = map[string]bool{
	"dial_timeout": true, "request_timeout": true, "health_check_interval": true,
	"quota_backend_bytes": true, "hashkv_interval": true,
	"probe.interval": true, "probe.timeout": true, "probe.write": true, "probe.key_prefix": true,
}

type parser struct {
	file     string
	dir      string
	defaults Defaults
	ix       *index
}

// entry is one cluster after Check, before its files are read.
type entry struct {
	cfg   collector.ClusterConfig
	raw   *clusterYAML
	index int
	path  string // "clusters[0]"
	line  int    // of the entry's mapping
	// nameLine is where the name is written, for duplicates across files.
	nameLine int
}

// Parse validates a config file's contents and returns one ClusterConfig per
// entry, in file order, each complete (Complete: inherited fields from
// defaults, derived ones resolved) and with its connection settings loaded
// (etcdconn.Config.Load: the endpoints normalised, the password and TLS
// files read). name is the file's path: errors start with it, and relative
// file paths in the config are resolved against its directory.
//
// The first problem found is returned as a cli usage error, one line:
// FILE:LINE: FIELD: problem. Structure and values of every entry are checked
// before any file is read, so a typo is reported ahead of a missing
// certificate.
func Parse(name string, data []byte, defaults Defaults) ([]collector.ClusterConfig, error) {
	entries, err := parseLoaded(name, data, defaults)
	if err != nil {
		return nil, err
	}
	out := make([]collector.ClusterConfig, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.cfg)
	}
	return out, nil
}

// parseLoaded is Parse keeping each entry's lines.
func parseLoaded(name string, data []byte, defaults Defaults) ([]*entry, error) {
	p := newParser(name, defaults)
	entries, err := p.parse(data)
	if err != nil {
		return nil, usage(err)
	}
	for _, e := range entries {
		if err := e.cfg.Conn.Load(); err != nil {
			return nil, usage(p.fieldError(e, err))
		}
	}
	return entries, nil
}

func newParser(name string, defaults Defaults) *parser {
	return &parser{file: name, dir: filepath.Dir(name), defaults: defaults.withBuiltins()}
}

func usage(err error) error {
	return cli.Usagef("%s", err.Error())
}

func (p *parser) errf(line int, field, format string, args ...any) error {
	return yamlerr.Errorf(p.file, line, field, format, args...)
}

// parse checks the structure and values of the whole file, touching no other
// file.
func (p *parser) parse(data []byte) ([]*entry, error) {
	root, err := yamlerr.ParseDocument(p.file, data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, p.errf(emptyLine(data), "clusters", "the file is empty: list the clusters to watch under clusters:")
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root.Line, "top level", "want a mapping with a clusters: list, got %s", yamlerr.Kind(root))
	}
	// The index bounds what aliases expand to and checks what yaml.v3
	// would report without a line (merges) or without the first line
	// (duplicate keys), before anything is decoded.
	if p.ix, err = newIndex(p.file, root, len(data)); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileYAML
	if err := dec.Decode(&f); err != nil {
		return nil, p.decodeError(err)
	}
	for key, v := range f.Rest {
		if !strings.HasPrefix(key, "x-") {
			line := p.ix.keyLine("", key, v.Line)
			return nil, p.errf(line, key, "%s", yamlerr.UnknownField(key, topFields))
		}
	}
	if len(f.Clusters) != len(p.ix.entries) {
		// The index and the decoder read the same document; this would be
		// a bug, not bad input, but is still said without a panic.
		return nil, p.errf(1, "clusters", "%d clusters decoded, %d listed", len(f.Clusters), len(p.ix.entries))
	}
	entries := make([]*entry, 0, len(f.Clusters))
	for i := range f.Clusters {
		e, err := p.cluster(i, &f.Clusters[i])
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	firstLine := map[string]int{} // cluster name → line of its name
	for i, e := range entries {
		nameLine := e.raw.Name.Line
		if p.ix.entries[i].alias {
			// The same entry again: its name is written at the anchor,
			// the repetition is here.
			nameLine = p.ix.entries[i].itemLine
		}
		if first, dup := firstLine[e.cfg.Name]; dup {
			return nil, p.errf(nameLine, e.path+".name", "duplicate cluster name %q (first at line %d)", e.cfg.Name, first)
		}
		firstLine[e.cfg.Name] = nameLine
		e.nameLine = nameLine
	}
	return entries, nil
}

// emptyLine is where an empty file's problem is reported: the line of a
// lone "---", else 1.
func emptyLine(data []byte) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "---") {
			return i + 1
		}
	}
	return 1
}

// decodeError places what yaml.v3's Decode reports.
func (p *parser) decodeError(err error) error {
	d, ok := yamlerr.Decode(err)
	if !ok {
		return p.errf(1, "syntax error", "%s", d.Msg)
	}
	if d.Unknown != "" {
		known := map[string][]string{
			reflect.TypeFor[clusterYAML]().String(): clusterFields,
			reflect.TypeFor[probeYAML]().String():   probeFields,
		}[d.Type]
		path := p.ix.keyPath(d.Line, d.Unknown)
		if d.Unknown == "password" && d.Type == reflect.TypeFor[clusterYAML]().String() {
			// Never echo the value: it is a secret that should not be here.
			return p.errf(d.Line, path, "passwords are not accepted in the config file: write the password to a file and set password_file")
		}
		return p.errf(d.Line, path, "%s", yamlerr.UnknownField(d.Unknown, known))
	}
	// The index checked every mapping and list, so what remains is rare:
	// say it as yaml.v3 does, at its line.
	return p.errf(d.Line, p.ix.valuePath(d.Line), "%s", d.Msg)
}

// cluster converts one entry, inheriting the defaults, and checks it.
func (p *parser) cluster(i int, c *clusterYAML) (*entry, error) {
	e := &entry{raw: c, index: i, path: fmt.Sprintf("clusters[%d]", i), line: p.ix.entries[i].line}
	d := p.defaults
	v := values{p: p, e: e}
	if !set(&c.Name) {
		return nil, p.errf(e.line, e.path+".name", "required")
	}
	name := v.str("name", &c.Name)
	eps := v.endpoints(&c.Endpoints)
	conn := &etcdconn.Config{
		Endpoints:          eps,
		CAFile:             v.file("ca_file", &c.CAFile),
		CertFile:           v.file("cert_file", &c.CertFile),
		KeyFile:            v.file("key_file", &c.KeyFile),
		InsecureSkipVerify: v.boolean("insecure_skip_verify", &c.InsecureSkipVerify, false),
		Username:           v.str("username", &c.Username),
		PasswordFile:       v.file("password_file", &c.PasswordFile),
	}
	e.cfg = d.cluster(name, conn)
	conn.DialTimeout = v.duration("dial_timeout", &c.DialTimeout, d.DialTimeout)
	conn.RequestTimeout = v.duration("request_timeout", &c.RequestTimeout, d.RequestTimeout)
	e.cfg.HealthCheckInterval = v.duration("health_check_interval", &c.HealthCheckInterval, d.HealthCheckInterval)
	e.cfg.HashKVInterval = v.duration("hashkv_interval", &c.HashKVInterval, d.HashKVInterval)
	e.cfg.QuotaBackendBytes = v.bytes("quota_backend_bytes", &c.QuotaBackendBytes, d.QuotaBackendBytes)
	pr := c.Probe
	if pr == nil {
		pr = &probeYAML{}
	}
	pc := &e.cfg.Probe
	pc.Interval = v.duration("probe.interval", &pr.Interval, pc.Interval)
	pc.Write = v.boolean("probe.write", &pr.Write, pc.Write)
	pc.KeyPrefix = v.str("probe.key_prefix", &pr.KeyPrefix, pc.KeyPrefix)
	if set(&pr.Timeout) {
		pc.Timeout = v.duration("probe.timeout", &pr.Timeout, 0)
		if v.err == nil && pc.Timeout == 0 {
			// Absent means "the default"; written out, 0s is a mistake.
			v.fail("probe.timeout", &pr.Timeout, "must be positive, got 0s")
		}
	} else if pc.Interval > 0 && pc.Timeout > pc.Interval {
		// An inherited timeout is capped rather than refused: the flag
		// was right for the flags' interval, this cluster asked for a
		// shorter one.
		pc.Timeout = pc.Interval
	}
	if v.err != nil {
		return nil, v.err
	}
	if err := Complete(&e.cfg); err != nil {
		return nil, p.fieldError(e, err)
	}
	return e, nil
}

// fieldError places an error from Check or etcdconn.Config.Load at the line
// of the field it names, or of the nearest enclosing mapping when the field
// is absent (e.g. username, required once password_file is set).
func (p *parser) fieldError(e *entry, err error) error {
	var fe *etcdconn.FieldError
	if !errors.As(err, &fe) {
		return p.errf(e.line, e.path, "%v", err)
	}
	line, found := e.line, false
	if n := e.raw.node(fe.Field); n != nil {
		line, found = n.Line, true
	} else if strings.HasPrefix(fe.Field, "probe.") && e.raw.Probe != nil {
		line = p.ix.entries[e.index].probeLine
	}
	msg := fe.Err.Error()
	if !found && inherited[fe.Field] {
		msg += " from the command line"
	}
	return p.errf(line, e.path+"."+fe.Field, "%s", msg)
}

// node is the value of a field given by its config key ("probe.timeout",
// "endpoints[1]"), nil when the entry leaves it out.
func (c *clusterYAML) node(field string) *yaml.Node {
	var i int
	if _, err := fmt.Sscanf(field, "endpoints[%d]", &i); err == nil {
		if l := yamlerr.Resolve(&c.Endpoints); l != nil && l.Kind == yaml.SequenceNode && i < len(l.Content) {
			return l.Content[i]
		}
		return nil
	}
	var n *yaml.Node
	if f, ok := strings.CutPrefix(field, "probe."); ok {
		if c.Probe == nil {
			return nil
		}
		n = fieldByTag(reflect.ValueOf(c.Probe).Elem(), f)
	} else {
		n = fieldByTag(reflect.ValueOf(c).Elem(), field)
	}
	if n == nil || !set(n) {
		return nil
	}
	return n
}

func fieldByTag(v reflect.Value, key string) *yaml.Node {
	t := v.Type()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key {
			n, _ := v.Field(i).Addr().Interface().(*yaml.Node)
			return n
		}
	}
	return nil
}

// set reports whether the field was in the entry (null counts: "name:" is
// a name given without a value).
func set(n *yaml.Node) bool { return n.Kind != 0 }

// values converts an entry's fields, keeping the first problem.
type values struct {
	p   *parser
	e   *entry
	err error
}

func (v *values) fail(field string, n *yaml.Node, format string, args ...any) {
	if v.err == nil {
		v.err = v.p.errf(n.Line, v.e.path+"."+field, format, args...)
	}
}

// scalar resolves an alias and returns the node if it is a non-null
// scalar, else records want.
func (v *values) scalar(field string, raw *yaml.Node, want string) *yaml.Node {
	n := yamlerr.Resolve(raw)
	if n == nil || n.Kind != yaml.ScalarNode || yamlerr.IsNull(n) {
		v.fail(field, raw, "want %s, got %s", want, yamlerr.Kind(n))
		return nil
	}
	return n
}

func (v *values) str(field string, raw *yaml.Node, def ...string) string {
	if !set(raw) {
		if len(def) > 0 {
			return def[0]
		}
		return ""
	}
	if n := v.scalar(field, raw, "a string"); n != nil {
		return n.Value
	}
	return ""
}

// file is a path, relative to the config file as Prometheus does: the file
// and the material it names are deployed together, wherever the monitor's
// working directory happens to be.
func (v *values) file(field string, raw *yaml.Node) string {
	s := v.str(field, raw)
	if s != "" && !filepath.IsAbs(s) {
		s = filepath.Join(v.p.dir, s)
	}
	return s
}

// boolean accepts only true and false: yes/no/on/off are YAML 1.1 and mean
// strings in YAML 1.2.
func (v *values) boolean(field string, raw *yaml.Node, def bool) bool {
	if !set(raw) {
		return def
	}
	n := yamlerr.Resolve(raw)
	var b bool
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		v.fail(field, raw, "want true or false, got %s", yamlerr.Describe(n))
	}
	return b
}

func (v *values) duration(field string, raw *yaml.Node, def time.Duration) time.Duration {
	if !set(raw) {
		return def
	}
	n := v.scalar(field, raw, "a duration such as 10s or 1m30s")
	if n == nil {
		return 0
	}
	// time.ParseDuration, not yaml's Decode: Decode takes a bare number as
	// nanoseconds, and "10" meaning 10ns is never what was meant.
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		v.fail(field, raw, "want a duration such as 10s or 1m30s, got %q", n.Value)
	}
	return d
}

// bytes reads a size as --etcd.quota-backend-bytes does: 8GiB or a number
// of bytes.
func (v *values) bytes(field string, raw *yaml.Node, def int64) int64 {
	if !set(raw) {
		return def
	}
	n := v.scalar(field, raw, "a size such as 8GiB or a number of bytes")
	if n == nil {
		return 0
	}
	if strings.HasPrefix(strings.TrimSpace(n.Value), "-") {
		// Said as Check says it for other sources.
		v.fail(field, raw, "must be positive, got %s", strings.TrimSpace(n.Value))
		return 0
	}
	b, err := bytesize.Parse(n.Value)
	if err != nil {
		v.fail(field, raw, "%v", err)
	}
	return b
}

func (v *values) endpoints(raw *yaml.Node) []string {
	const field = "endpoints"
	if !set(raw) {
		// Check reports it at the entry's line.
		return nil
	}
	l := yamlerr.Resolve(raw)
	switch {
	case yamlerr.IsNull(l):
		v.fail(field, raw, "at least one endpoint is required")
		return nil
	case l == nil || l.Kind != yaml.SequenceNode:
		v.fail(field, raw, "want a list of endpoints, got %s", yamlerr.Kind(l))
		return nil
	}
	eps := make([]string, 0, len(l.Content))
	for i, item := range l.Content {
		if n := v.scalar(fmt.Sprintf("%s[%d]", field, i), item, "an endpoint (host:port or http(s)://host:port)"); n != nil {
			eps = append(eps, n.Value)
		}
	}
	return eps
}
