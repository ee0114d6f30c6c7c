package clusterconfig

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
)

// errf builds the one error shape this package returns:
// FILE:LINE: FIELD: problem, as a usage error so the command exits 2.
func (p *parser) errf(line int, field, format string, args ...any) error {
	msg := fmt.Sprintf("%s:%d: %s: %s", p.file, line, field, fmt.Sprintf(format, args...))
	return cli.Usagef("%s", oneLine(msg))
}

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// syntaxError turns a yaml.v3 parse error into FILE:LINE: syntax error: …
// yaml.v3 leaves the line out of some messages (problems on the first line,
// reader errors, unknown anchors); those lines are found here, or fallback
// is used.
func (p *parser) syntaxError(data []byte, err error, fallback int) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil && line > 0 {
			if isParserError(m[2]) {
				line++
			}
			return p.errf(line, "syntax error", "%s", m[2])
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
	return p.errf(line, "syntax error", "%s", msg)
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

// oneLine escapes line breaks and other control characters, which can reach
// a message through a file name, a YAML key or an OS error: the error must
// stay one line in logs and in the terminal.
func oneLine(s string) string {
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

// suggest returns the allowed field closest to a misspelt key ("endpoint",
// "dial-timeout", "CA_FILE"), "" if none is close.
func suggest(key string, allowed []string) string {
	if len(key) > 64 {
		return ""
	}
	norm := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	best, bestDist := "", 3
	for _, a := range allowed {
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
