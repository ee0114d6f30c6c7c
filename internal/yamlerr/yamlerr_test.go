package yamlerr

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Each yaml.v3 syntax error gets the line a person would point at.
func TestSyntaxLines(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"parser error, one past yaml.v3's line", "a:\n  - b: 1\n    c: [1\n", "f.yml:3: syntax error: did not find expected ',' or ']'"},
		{"scanner error", "a:\n\t- b\n", "f.yml:2: syntax error: found character that cannot start any token"},
		{"first line, reported without one", "a: b: c\n", "f.yml:1: syntax error: mapping values are not allowed in this context"},
		{"bad byte", "a: 1\nb: \xff\n", "f.yml:2: syntax error: invalid leading UTF-8 octet"},
		{"unknown anchor", "a: 1\nb:\n  c: *x\n", "f.yml:3: syntax error: unknown anchor 'x' referenced"},
		{"second document", "a: 1\n---\nb: 2\n", "f.yml:2: syntax error: a second YAML document: the file must hold one"},
	} {
		_, err := ParseDocument("f.yml", []byte(tc.data))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s…", tc.name, err, tc.want)
		}
	}
	for _, empty := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		if root, err := ParseDocument("f.yml", []byte(empty)); root != nil || err != nil {
			t.Errorf("%q: got %v, %v; want an empty document", empty, root, err)
		}
	}
}

type inner struct {
	Interval string `yaml:"interval"`
}

type outer struct {
	Name  string            `yaml:"name"`
	Probe inner             `yaml:"probe"`
	Rest  map[string]string `yaml:",inline"`
	skip  int
}

// What Decode takes apart from yaml.v3's KnownFields and type errors.
func TestDecode(t *testing.T) {
	decode := func(data string, v any) error {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(data)))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
	var in struct {
		Probe inner `yaml:"probe"`
	}
	d, ok := Decode(decode("probe:\n  interval: 1s\n  intervall: 2s\n  other: 3\n", &in))
	if !ok || d.Line != 3 || d.Unknown != "intervall" || d.Type != "yamlerr.inner" {
		t.Errorf("unknown field: %+v", d)
	}
	if s := UnknownField(d.Unknown, Known(reflect.TypeFor[inner]())); s != "unknown field, did you mean interval?" {
		t.Errorf("suggestion: %s", s)
	}
	d, ok = Decode(decode("probe: [1]\n", &in))
	if !ok || d.Line != 1 || d.Tag != "!!seq" || d.Type != "yamlerr.inner" {
		t.Errorf("type error: %+v", d)
	}
	d, ok = Decode(decode("probe:\n  interval: {a: 1}\n", &in))
	if !ok || d.Line != 2 || d.Tag != "!!map" || d.Type != "string" {
		t.Errorf("type error in a field: %+v", d)
	}
	// A key with a line break stays one key.
	d, _ = Decode(decode("probe:\n  \"a\\nb\": 1\n", &in))
	if d.Unknown != "a\nb" {
		t.Errorf("key with a line break: %+v", d)
	}
	if _, ok := Decode(bytes.ErrTooLarge); ok {
		t.Error("an error without a line taken apart")
	}
}

func TestKnown(t *testing.T) {
	if got := strings.Join(Known(reflect.TypeFor[*outer]()), ","); got != "name,probe" {
		t.Errorf("Known: %s", got)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"endpoints", "dial_timeout", "ca_file", "key_prefix"}
	for key, want := range map[string]string{
		"endpoint": "endpoints", "dial-timeout": "dial_timeout", "CA_FILE": "ca_file", "keyprefix": "key_prefix",
		"replicas": "", strings.Repeat("x", 100): "",
	} {
		if got := Suggest(key, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", key, got, want)
		}
	}
	if s := UnknownField("replicas", known); s != "unknown field (known: endpoints, dial_timeout, ca_file, key_prefix)" {
		t.Errorf("no suggestion: %s", s)
	}
}

func TestErrorIsOneLine(t *testing.T) {
	e := Errorf("a\nb.yml", 0, "x\u2028y", "bad\r\nvalue")
	if got, want := e.Error(), `a\nb.yml:1: x\u2028y: bad\r\nvalue`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestKindAndDescribe(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("[a, 1, true, ~, {}, [], &x y, *x]"), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range doc.Content[0].Content {
		got = append(got, Kind(n)+"|"+Describe(n))
	}
	want := `a string value|"a",a number value|"1",a boolean value|"true",no value|no value,a mapping|a mapping,a list|a list,a string value|"y",a string value|a string value`
	if s := strings.Join(got, ","); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
}
