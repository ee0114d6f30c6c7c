package status

import (
	"testing"
	"unsafe"
)

// The stored sample has a fixed size and no pointers, so a full ring costs
// its capacity times that, whatever was recorded: about 40 KiB a cluster.
func TestSampleSize(t *testing.T) {
	if size := unsafe.Sizeof(sample{}); size != 56 || size*MaxTrendSamples > 40<<10 {
		t.Errorf("a sample is %d bytes, a full ring %d", size, size*MaxTrendSamples)
	}
}
