package chartfiles

import (
	"strings"
	"testing"
)

// TestValuesTable: documented fields become rows with their defaults in one
// line; an undocumented field is an error naming it, so values.yaml cannot
// gain a field without a comment.
func TestValuesTable(t *testing.T) {
	table, err := ValuesTable([]byte(`# Section comments are not descriptions.
# -- The image.
image:
  # -- Repository.
  repository: x
service:
  # -- Labels of the Service,
  # over two lines.
  labels: {a: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"| `image` | `{repository: x}` | The image. |",
		"| `service.labels` | `{a: \"1\"}` | Labels of the Service, over two lines. |",
	} {
		if !strings.Contains(table, row+"\n") {
			t.Errorf("table lacks %s:\n%s", row, table)
		}
	}
	_, err = ValuesTable([]byte("service:\n  # -- Port.\n  port: 1\n  # no marker\n  type: ClusterIP\n"))
	if err == nil || !strings.Contains(err.Error(), `values.yaml:5: service.type has no "# --" comment`) {
		t.Errorf("undocumented field: err = %v", err)
	}
}
