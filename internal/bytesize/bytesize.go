// Package bytesize reads and prints sizes in bytes the one way etcd-monitor
// writes them everywhere: flags (--min-free-bytes, --etcd.quota-backend-bytes),
// config files and reports. KiB, MiB, GiB and TiB are powers of 1024, as
// etcd's quota is set; KB, MB, GB and TB are powers of 1000, so "2GB" means
// what a disk vendor means and never silently 2 GiB.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var sizeRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$`)

var units = map[string]float64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ErrSyntax is wrapped by Parse's errors for text that is not a size.
var ErrSyntax = errors.New("not a size")

// Parse reads "100MiB", "1.5GiB", "2GB" or a plain number of bytes. What a
// fraction of a unit leaves below one byte is dropped.
func Parse(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is %w (use e.g. 100MiB, 8GiB or a number of bytes)", s, ErrSyntax)
	}
	if m[2] == "" || m[2] == "B" {
		// Whole bytes exactly: a float64 would round sizes above 2^53.
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			if strings.Contains(m[1], ".") {
				return 0, fmt.Errorf("%q is %w: a fraction of a byte (use e.g. 1.5GiB or a number of bytes)", s, ErrSyntax)
			}
			return 0, fmt.Errorf("%q is too large (at most 8EiB)", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is %w: %w", s, ErrSyntax, err)
	}
	v := f * units[m[2]]
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large (at most 8EiB)", s)
	}
	return int64(v), nil
}

// Format prints a size for people, in binary units with one decimal
// ("1.5 GiB", "512 B"), the way etcdctl's tables do: one decimal keeps a few
// hundred KiB freed on a small database visible.
func Format(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8.0 EiB"
		}
		return "-" + Format(-n)
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(binaryUnits)-1 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + binaryUnits[i]
}

var binaryUnits = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Exact prints a size without losing a byte: in the largest binary unit
// that divides it ("8GiB"), else in bytes. It is what a flag's default or a
// config file shows, text that Parse reads back to the same number.
func Exact(n int64) string {
	for i := len(binaryUnits) - 1; i >= 0; i-- {
		u := int64(1) << (10 * (i + 1))
		if i < 4 && n != 0 && n%u == 0 { // Parse reads up to TiB
			return strconv.FormatInt(n/u, 10) + binaryUnits[i]
		}
	}
	return strconv.FormatInt(n, 10)
}

// Flag is a kingpin flag value holding a positive size: registered with
// cmd.Flag(...).SetValue(bytesize.NewFlag(&n)), it accepts every form Parse
// reads and refuses zero and negative sizes while the command line is
// parsed, so the error names the flag.
type Flag struct{ p *int64 }

// NewFlag returns a Flag that stores into p.
func NewFlag(p *int64) *Flag { return &Flag{p: p} }

// Set implements kingpin.Value.
func (f *Flag) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("must be positive, got %q", s)
	}
	*f.p = n
	return nil
}

// String implements kingpin.Value.
func (f *Flag) String() string {
	if f.p == nil {
		return ""
	}
	return Exact(*f.p)
}
