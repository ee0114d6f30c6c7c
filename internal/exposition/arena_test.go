package exposition

import (
	"testing"
)

// Messages handed out after a Reset are zeroed and reuse the memory of the
// first round; a slice handed out cannot be appended into its neighbour's.
func TestArenaReuse(t *testing.T) {
	var a Arena
	var first []*float64
	for i := range 1000 {
		first = append(first, a.Float(float64(i)))
	}
	for i, p := range first {
		if *p != float64(i) {
			t.Fatalf("value %d overwritten: %v (a chunk was moved)", i, *p)
		}
	}
	m := a.Metric()
	m.Gauge = a.Gauge(3)
	ps := a.Pairs(2)
	next := a.Pairs(1)
	next[0] = a.Pair("n", "v")
	ps = append(ps, a.Pair("x", "y")) // past its capacity: copied, not into next
	if next[0].GetName() != "n" || len(ps) != 3 {
		t.Fatalf("an append ran into the next slice: %v", next[0])
	}

	a.Reset()
	again := a.Metric()
	if again != m {
		t.Errorf("after Reset the first metric is not reused")
	}
	if again.Gauge != nil {
		t.Errorf("a reused metric kept its gauge: %v", again.Gauge)
	}
	if p := a.Float(-1); p != first[0] || *p != -1 {
		t.Errorf("after Reset the first float is not reused or not set")
	}
	if allocs := testing.AllocsPerRun(10, func() {
		a.Reset()
		for i := range 1000 {
			a.Float(float64(i))
			a.Metric()
		}
	}); allocs != 0 {
		t.Errorf("%v allocations per round of the same size after the first, want 0", allocs)
	}

	k := NewKeepingArena()
	kept := k.Float(1)
	k.Reset()
	if k.Float(2) == kept || *kept != 1 {
		t.Error("a keeping arena reused a value after Reset")
	}
}
