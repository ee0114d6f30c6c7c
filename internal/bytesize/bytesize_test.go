package bytesize

import (
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{
		"0":                   0,
		"512":                 512,
		"512B":                512,
		" 100MiB ":            100 << 20,
		"1.5GiB":              3 << 29,
		"2GB":                 2e9,
		"8 GiB":               8 << 30,
		"1TiB":                1 << 40,
		"9223372036854775807": math.MaxInt64, // exact, not rounded through float64
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5.2", "10 apples", "1e9", "GiB", "0x10", "99999999TiB", "9223372036854775808", "1.5", "2.0B"} {
		if n, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, n)
		}
	}
	if _, err := Parse("ten"); !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse(ten): %v does not wrap ErrSyntax", err)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0:             "0 B",
		1023:          "1023 B",
		1024:          "1.0 KiB",
		1536:          "1.5 KiB",
		100 << 20:     "100.0 MiB",
		2 << 30:       "2.0 GiB",
		-300 << 10:    "-300.0 KiB",
		1 << 60:       "1.0 EiB",
		math.MaxInt64: "8.0 EiB",
		math.MinInt64: "-8.0 EiB",
		3 << 40:       "3.0 TiB",
		1<<20 + 1<<19: "1.5 MiB",
		1<<30 - 1<<20: "1023.0 MiB",
		int64(5e9):    "4.7 GiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

// What Exact prints, Parse reads back to the same number.
func TestExactRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 2 << 30: "2GiB", 8 << 30: "8GiB", 3 << 40: "3TiB",
		1<<50 + 0: "1024TiB", 1<<30 + 1: "1073741825",
	} {
		got := Exact(n)
		if got != want {
			t.Errorf("Exact(%d) = %q, want %q", n, got, want)
		}
		if back, err := Parse(got); err != nil || back != n {
			t.Errorf("Parse(Exact(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestFlag(t *testing.T) {
	var n int64 = 2 << 30
	f := NewFlag(&n)
	if f.String() != "2GiB" {
		t.Errorf("default shown as %q", f.String())
	}
	if err := f.Set("8GiB"); err != nil || n != 8<<30 {
		t.Errorf("Set(8GiB): %d, %v", n, err)
	}
	for _, bad := range []string{"0", "0B", "lots", "-5"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if n != 8<<30 {
		t.Errorf("a refused value changed the flag to %d", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "1.5GiB", "8 TB", "99999999TiB", "0.0000001KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err == nil && n < 0 {
			t.Fatalf("Parse(%q) = %d: negative", s, n)
		}
		_ = Format(n)
	})
}
