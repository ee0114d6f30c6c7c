package maintenance

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
)

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$`)

// sizeUnits follow the rules generator's config: KiB and friends are powers
// of 1024, KB and friends powers of 1000, so one size means the same in a
// rule threshold and on a command line.
var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// parseSize reads "100MiB", "2GB" or a plain number of bytes.
func parseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (use e.g. 100MiB, 1GiB or a number of bytes)", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	v := f * sizeUnits[m[2]]
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// humanBytes prints sizes the way etcdctl's tables do (base 1024), with one
// decimal so that a few hundred KiB freed on a small database still shows.
func humanBytes(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprintf("%d B", n)
	for i, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		div := float64(int64(1) << (10 * (i + 1)))
		if float64(n) >= div {
			s = fmt.Sprintf("%.1f %s", float64(n)/div, u)
		}
	}
	if neg {
		return "-" + s
	}
	return s
}
