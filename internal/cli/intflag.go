package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// IntVar makes fc a whole-number flag stored in dst. Kingpin's own int
// flags read the value with ParseFloat and convert: --clients=1.5 became 1
// and --total=1e20 wrapped to -9223372036854775808, which later checks
// then reported as "must not be negative". Here a value is a whole number
// in int's range or refused, before any check sees it; main's
// NameParseError puts the flag's name in front.
func IntVar(fc *kingpin.FlagClause, dst *int) {
	fc.SetValue(&wholeValue[int]{dst, strconv.IntSize})
}

// Int64Var is IntVar for an int64 (etcd revisions, byte counts).
func Int64Var(fc *kingpin.FlagClause, dst *int64) {
	fc.SetValue(&wholeValue[int64]{dst, 64})
}

type wholeValue[T int | int64] struct {
	dst  *T
	bits int
}

func (v *wholeValue[T]) Set(s string) error {
	n, err := parseWhole(s, v.bits)
	if err != nil {
		return err
	}
	*v.dst = T(n)
	return nil
}

func (v *wholeValue[T]) String() string { return strconv.FormatInt(int64(*v.dst), 10) }

// ParseInt reads a whole number in int's range: 42, -1, or an exponent
// form of a whole number such as 1e3 (kingpin accepted those, and a
// command line that used one keeps working). A fraction is "not an
// integer", a number beyond int "out of range".
func ParseInt(s string) (int, error) {
	n, err := parseWhole(s, strconv.IntSize)
	return int(n), err
}

// parseWhole is ParseInt for a signed integer of the given bit size.
func parseWhole(s string, bits int) (int64, error) {
	lo, hi := int64(math.MinInt64)>>(64-bits), int64(math.MaxInt64)>>(64-bits)
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, bits)
	if err == nil {
		return n, nil
	}
	if isRangeErr(err) {
		return 0, fmt.Errorf("%s is out of range (%d to %d)", t, lo, hi)
	}
	f, ferr := strconv.ParseFloat(t, 64)
	switch {
	case ferr != nil && !isRangeErr(ferr), math.IsNaN(f):
		return 0, fmt.Errorf("%q is not an integer", s)
	case math.IsInf(f, 0) || f >= float64(hi) || f < float64(lo):
		return 0, fmt.Errorf("%s is out of range (%d to %d)", t, lo, hi)
	case f != math.Trunc(f):
		return 0, fmt.Errorf("%s is not an integer", t)
	}
	return int64(f), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
