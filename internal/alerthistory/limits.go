package alerthistory

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Per-alert bounds. Whatever a webhook body holds, one kept entry costs at
// most about MaxEntryBytes: Alertmanager's own alerts are far below every
// bound (the shipped rules' longest annotation is a few hundred bytes), so
// only hostile or broken senders are cut.
const (
	// MaxNameBytes bounds a label or annotation name.
	MaxNameBytes = 256
	// MaxLabelValueBytes bounds a label value.
	MaxLabelValueBytes = 1 << 10
	// MaxAnnotationValueBytes bounds an annotation value.
	MaxAnnotationValueBytes = 4 << 10
	// MaxFields bounds the labels, and separately the annotations, kept.
	MaxFields = 64
	// MaxEntryBytes bounds an entry as counted by its size: fields beyond
	// it are dropped.
	MaxEntryBytes = 16 << 10
	// maxStringBytes bounds the other strings of an entry (fingerprint,
	// receiver).
	maxStringBytes = 256
)

// TruncationMark ends a value that was cut to its bound.
const TruncationMark = "…"

// Estimated bookkeeping behind an entry: its struct, its slot in the
// history, the two maps' headers, and per map entry the bucket slot and
// two string headers. Generous on purpose: the budget is what RSS must
// hold, and the Go heap needs more than the bytes of the strings.
const (
	entryOverhead = 512
	fieldOverhead = 64
)

// clip cuts s to at most n bytes on a UTF-8 boundary, marking the cut. The
// result is a copy, so the (possibly huge) decoded string is not kept
// alive by a small slice of it.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(TruncationMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.Clone(s[:cut]) + TruncationMark
}

// priority lists the labels and annotations the history and the status
// page show: they are kept first when an alert has more than fits.
var priority = []string{"alertname", "severity", "member", "summary", "description"}

// bound copies m within the per-alert bounds: names and values clipped, at
// most MaxFields entries, and at most budget bytes by size. It returns the
// copy, the bytes it counts and whether anything was cut or dropped.
func bound(m map[string]string, clusterLabel string, maxValue, budget int) (map[string]string, int, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// The shown fields first, the rest by name: which are dropped does not
	// depend on map order.
	rank := func(k string) int {
		if k == clusterLabel {
			return -1
		}
		if i := slices.Index(priority, k); i >= 0 {
			return i
		}
		return len(priority)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]string, min(len(keys), MaxFields))
	size, cut := 0, false
	for _, k := range keys {
		if len(out) == MaxFields {
			return out, size, true
		}
		name, value := clip(k, MaxNameBytes), clip(m[k], maxValue)
		cut = cut || name != k || value != m[k]
		n := fieldOverhead + len(name) + len(value)
		if size+n > budget {
			cut = true
			continue
		}
		if _, dup := out[name]; dup {
			// Two long names clipped to the same prefix.
			cut = true
			continue
		}
		out[name] = value
		size += n
	}
	return out, size, cut
}
