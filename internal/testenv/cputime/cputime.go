// Package cputime measures the CPU time this process has used, for
// measurements on a shared machine: other load disturbs CPU time far less
// than wall time.
package cputime

import (
	"syscall"
	"time"
)

// Process is the user and system CPU time of this process so far, every
// goroutine included (the garbage collector's too); 0 if unknown.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
