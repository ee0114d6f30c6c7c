package cli

import (
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{"42", 42, ""},
		{"-1", -1, ""},
		{" 7 ", 7, ""},
		{"1e3", 1000, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"9223372036854775808", 0, "9223372036854775808 is out of range"},
		{"-9223372036854775809", 0, "is out of range"},
		{"1e20", 0, "1e20 is out of range"},
		{"1e400", 0, "1e400 is out of range"},
		{"9.3e18", 0, "9.3e18 is out of range"},
		{"1.5", 0, "1.5 is not an integer"},
		{"many", 0, `"many" is not an integer`},
		{"NaN", 0, `"NaN" is not an integer`},
		{"Inf", 0, "Inf is out of range"},
		{"", 0, `"" is not an integer`},
	} {
		got, err := ParseInt(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseInt(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseInt(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.err)
		}
	}
}

// Int64Var refuses what does not fit an int64, as IntVar does for int.
func TestInt64Var(t *testing.T) {
	app := kingpin.New("t", "")
	app.Terminate(nil)
	var n int64
	Int64Var(app.Flag("n", ""), &n)
	if _, err := app.Parse([]string{"--n=1e3"}); err != nil || n != 1000 {
		t.Fatalf("--n=1e3: %d, %v", n, err)
	}
	for _, in := range []string{"1.5", "1e30", "9223372036854775808"} {
		if _, err := app.Parse([]string{"--n=" + in}); err == nil {
			t.Errorf("--n=%s accepted as %d", in, n)
		}
	}
}
