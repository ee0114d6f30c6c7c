package benchmark

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

const (
	progressEvery = 200 * time.Millisecond
	progressWidth = 30
)

// startProgressBar redraws one line on w until the returned function is
// called, which clears the line again so the report starts on a clean
// one. It reads only the shared done counter: drawing never slows a client.
func startProgressBar(w io.Writer, label string, total int64, d time.Duration, done *atomic.Int64) func() {
	start := time.Now()
	stopc := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stopc:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(w, progressLine(label, done.Load(), total, time.Since(start), d))
			}
		}
	}()
	return func() {
		close(stopc)
		<-finished
	}
}

func progressLine(label string, n, total int64, elapsed, d time.Duration) string {
	var frac float64
	var count string
	switch {
	case total > 0:
		frac = float64(n) / float64(total)
		count = fmt.Sprintf("%d/%d", n, total)
	case d > 0:
		frac = elapsed.Seconds() / d.Seconds()
		count = fmt.Sprintf("%d, %s/%s", n, elapsed.Truncate(time.Second), d)
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * progressWidth)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressWidth-filled)
	var rate float64
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	return fmt.Sprintf("\r\x1b[K%s [%s] %3.0f%% %s  %.0f req/s", label, bar, 100*frac, count, rate)
}
