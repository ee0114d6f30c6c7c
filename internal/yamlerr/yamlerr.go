// Package yamlerr turns what yaml.v3 reports about a config file into the
// one error shape etcd-monitor's config files use, FILE:LINE: FIELD:
// problem, on one line. yaml.v3 decodes into structs with known fields
// (Decoder.KnownFields) but says "line 4: field colour not found in type
// clusterconfig.clusterYAML", leaves the line out of some syntax errors and
// is off by one in others; this package finds the line, names the field by
// its path ("clusters[0].colour") and suggests the field that was meant.
//
// The cluster config (internal/clusterconfig) and the rules generator's
// config (rules/config.go) use it.
package yamlerr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a YAML file.
type Error struct {
	File    string
	Line    int
	Field   string // "clusters[0].probe.timeout", "syntax error", "top level"
	Problem string
}

// Error is FILE:LINE: FIELD: problem, always one line: control characters
// that reached the message through a file name, a key or a value are
// escaped.
func (e *Error) Error() string {
	return OneLine(fmt.Sprintf("%s:%d: %s: %s", e.File, max(e.Line, 1), e.Field, e.Problem))
}

// Errorf builds an Error.
func Errorf(file string, line int, field, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ParseDocument parses data as exactly one YAML document and returns its
// root node, nil for an empty document (nothing, comments or a bare "---").
// Anything after the first document is refused: a stray "---" would
// otherwise hide the rest of the file.
func ParseDocument(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Syntax(file, data, err, 1)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Syntax(file, data, err, lastLine(&doc))
	default:
		return nil, Errorf(file, max(next.Line, 1), "syntax error", "a second YAML document: the file must hold one")
	}
	if len(doc.Content) == 0 || IsNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

var (
	lineRE          = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	unknownFieldRE  = regexp.MustCompile(`(?s)^field (.*) not found in type (\S+)$`)
	typeErrorRE     = regexp.MustCompile("(?s)^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
)

// Syntax turns a yaml.v3 parse error into FILE:LINE: syntax error: …
// yaml.v3 leaves the line out of some messages (problems on the first line,
// reader errors, unknown anchors); those lines are found here, or fallback
// is used.
func Syntax(file string, data []byte, err error, fallback int) *Error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil && line > 0 {
			if isParserError(m[2]) {
				line++
			}
			return Errorf(file, line, "syntax error", "%s", m[2])
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := fallback
	switch {
	case isParserError(msg):
		// Without a line, the parser's mark was on its line 0.
		line = 1
	case isReaderError(msg):
		if l := badCharLine(data); l > 0 {
			line = l
		}
	case unknownAnchorRE.MatchString(msg):
		name := unknownAnchorRE.FindStringSubmatch(msg)[1]
		if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	return Errorf(file, line, "syntax error", "%s", msg)
}

// Decoded is the first problem of a yaml.v3 Decode error (a TypeError lists
// several, one a line), taken apart.
type Decoded struct {
	Line int
	// Unknown is the key of an unknown field and Type the Go type it was
	// not found in ("clusterconfig.probeYAML").
	Unknown, Type string
	// Tag and Value describe what could not be decoded into Type: "!!str"
	// and its text, or "!!seq"/"!!map" and "".
	Tag, Value string
	// Msg is the problem as yaml.v3 words it, without "line N: ".
	Msg string
}

// Decode takes apart the first problem in a yaml.v3 Decode error; ok is
// false when it names no line.
func Decode(err error) (d Decoded, ok bool) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return Decoded{Msg: strings.TrimPrefix(msg, "yaml: ")}, false
	}
	d.Line, _ = strconv.Atoi(m[1])
	d.Msg = m[2]
	if u := unknownFieldRE.FindStringSubmatch(d.Msg); u != nil {
		d.Unknown, d.Type = u[1], u[2]
	}
	if t := typeErrorRE.FindStringSubmatch(d.Msg); t != nil {
		d.Tag, d.Value, d.Type = t[1], t[2], t[3]
	}
	return d, true
}

// Known lists the YAML keys of a struct type, in declaration order, for
// "unknown field (known: …)" and for Suggest. Inline fields are left out.
func Known(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || strings.Contains(opts, "inline") || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, name)
	}
	return out
}

// UnknownField words the problem with an unknown key: the field meant, if
// one is close ("did you mean endpoints?"), else the known ones.
func UnknownField(key string, known []string) string {
	if s := Suggest(key, known); s != "" {
		return fmt.Sprintf("unknown field, did you mean %s?", s)
	}
	return fmt.Sprintf("unknown field (known: %s)", strings.Join(known, ", "))
}

// Suggest returns the known field closest to a misspelt key ("endpoint",
// "dial-timeout", "CA_FILE"), "" if none is close.
func Suggest(key string, known []string) string {
	if len(key) > 64 {
		return ""
	}
	norm := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	best, bestDist := "", 3
	for _, a := range known {
		if d := editDistance(norm, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Resolve follows an alias to the node it names; nil if there is none.
func Resolve(n *yaml.Node) *yaml.Node {
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

// IsNull reports whether n is a null scalar ("~", "null" or nothing).
func IsNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Kind names what a node is, for "want X, got Y" messages.
func Kind(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.AliasNode:
		return Kind(Resolve(n))
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case IsNull(n):
		return "no value"
	case n.Kind == yaml.ScalarNode:
		return "a " + TagName(n.ShortTag()) + " value"
	}
	return "an unsupported YAML node"
}

// Describe quotes a scalar's text, or names the node's kind.
func Describe(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.ScalarNode && !IsNull(n) {
		return strconv.Quote(n.Value)
	}
	return Kind(n)
}

// TagName names a YAML tag the way a person would ("!!int": "number").
func TagName(tag string) string {
	switch tag {
	case "!!str":
		return "string"
	case "!!int", "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	case "!!seq":
		return "list"
	case "!!map":
		return "mapping"
	}
	return "scalar"
}

// isParserError reports whether yaml.v3's parser (rather than its scanner)
// found the problem. yaml.v3 v3.0.1 adds one to the scanner's 0-based line
// numbers but not to the parser's, so parser errors say "line 2" for the
// third line.
func isParserError(msg string) bool {
	// Every problem parserc.go reports; the scanner's messages are
	// different ("did not find expected tag URI" is the scanner's).
	switch msg {
	case "did not find expected <stream-start>",
		"did not find expected <document start>",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected key",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"found duplicate %TAG directive",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// isReaderError reports whether yaml.v3 refused the bytes themselves
// (encoding, control characters) rather than the YAML structure.
func isReaderError(msg string) bool {
	for _, s := range []string{"UTF-8", "UTF-16", "Unicode", "surrogate", "control characters"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// badCharLine is the line of the first byte YAML does not accept (invalid
// UTF-8 or a character outside YAML's printable set), 0 if there is none.
func badCharLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size <= 1) || !yamlPrintable(r) {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 0
}

// yamlPrintable is YAML 1.2's c-printable set, plus the byte order mark.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85, r == 0xFEFF:
		return true
	case r >= 0x20 && r <= 0x7E:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
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

// OneLine escapes line breaks and other control characters, which can reach
// a message through a file name, a YAML key or an OS error: the error must
// stay one line in logs and in the terminal.
func OneLine(s string) string {
	if strings.IndexFunc(s, needsEscape) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if needsEscape(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029')
}
