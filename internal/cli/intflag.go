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
	fc.SetValue((*intValue)(dst))
}

type intValue int

func (v *intValue) Set(s string) error {
	n, err := ParseInt(s)
	if err != nil {
		return err
	}
	*v = intValue(n)
	return nil
}

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

// ParseInt reads a whole number in int's range: 42, -1, or an exponent
// form of a whole number such as 1e3 (kingpin accepted those, and a
// command line that used one keeps working). A fraction is "not an
// integer", a number beyond int "out of range".
func ParseInt(s string) (int, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, strconv.IntSize)
	if err == nil {
		return int(n), nil
	}
	if isRangeErr(err) {
		return 0, fmt.Errorf("%s is out of range (%d to %d)", t, math.MinInt, math.MaxInt)
	}
	f, ferr := strconv.ParseFloat(t, 64)
	switch {
	case ferr != nil && !isRangeErr(ferr), math.IsNaN(f):
		return 0, fmt.Errorf("%q is not an integer", s)
	case math.IsInf(f, 0) || f >= math.MaxInt || f < math.MinInt:
		return 0, fmt.Errorf("%s is out of range (%d to %d)", t, math.MinInt, math.MaxInt)
	case f != math.Trunc(f):
		return 0, fmt.Errorf("%s is not an integer", t)
	}
	return int(f), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
