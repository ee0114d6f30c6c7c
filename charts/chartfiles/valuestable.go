package chartfiles

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Markers around the generated values table in the chart's README.md.
const (
	tableBegin = "<!-- values table: generated from values.yaml by charts/chartfiles; DO NOT EDIT -->"
	tableEnd   = "<!-- end of values table -->"
)

// ValuesTable renders values.yaml as a Markdown table: one row per documented
// field (a key whose comment starts with "# --"), with its default. A key
// without such a comment must be a mapping whose fields are documented; any
// other undocumented field is an error, so every field of values.yaml is
// explained.
func ValuesTable(values []byte) (string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(values, &root); err != nil {
		return "", fmt.Errorf("values.yaml: %w", err)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("values.yaml: not a mapping")
	}
	var b strings.Builder
	b.WriteString("| key | default | description |\n|---|---|---|\n")
	if err := walkValues(&b, root.Content[0], ""); err != nil {
		return "", err
	}
	return b.String(), nil
}

func walkValues(b *strings.Builder, m *yaml.Node, prefix string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		doc := description(k.HeadComment)
		if doc == "" {
			if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
				return fmt.Errorf("values.yaml:%d: %s has no \"# --\" comment", k.Line, key)
			}
			if err := walkValues(b, v, key+"."); err != nil {
				return err
			}
			continue
		}
		def, err := inline(v)
		if err != nil {
			return fmt.Errorf("values.yaml:%d: %s: %w", k.Line, key, err)
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", key, strings.ReplaceAll(def, "|", `\|`), strings.ReplaceAll(doc, "|", `\|`))
	}
	return nil
}

// description is the text of a "# --" comment, without the markers, on one
// line. Lines of the head comment before the "# --" (section comments) are
// left out.
func description(comment string) string {
	_, after, ok := strings.Cut(comment, "# --")
	if !ok {
		return ""
	}
	var words []string
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if line != "" {
			words = append(words, line)
		}
	}
	return strings.Join(words, " ")
}

// inline renders a default value as one line of YAML flow style.
func inline(v *yaml.Node) (string, error) {
	c := *v
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	setFlow(&c)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return "", err
	}
	return strings.TrimSpace(buf.String()), nil
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for i, c := range n.Content {
		cc := *c
		cc.HeadComment, cc.LineComment, cc.FootComment = "", "", ""
		setFlow(&cc)
		n.Content[i] = &cc
	}
}

// withValuesTable returns readme with the part between the markers replaced by
// table.
func withValuesTable(readme []byte, table string) ([]byte, error) {
	s := string(readme)
	i := strings.Index(s, tableBegin)
	j := strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("chart README.md lacks the values table markers %q and %q", tableBegin, tableEnd)
	}
	return []byte(s[:i+len(tableBegin)] + "\n" + table + s[j:]), nil
}
