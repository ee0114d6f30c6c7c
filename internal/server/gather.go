package server

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sharedGather lets scrapes that arrive while a gathering is under way
// share its result instead of starting their own. A monitor is usually
// scraped by two Prometheus servers of an HA pair at about the same
// moment; gathering a fleet's metrics builds all of their messages in
// memory (about 65 MB at 1,000 clusters), so two at once would double what
// a scrape adds to the process, and its CPU. The families are only read by
// the encoders, never changed, so sharing them is safe; a scrape that
// arrives after a gathering ended starts a new one, so none is served data
// older than the scrape that was under way when it arrived.
type sharedGather struct {
	g prometheus.Gatherer

	mu   sync.Mutex
	call *gatherCall // the gathering under way, nil if none
}

type gatherCall struct {
	done    chan struct{}
	mfs     []*dto.MetricFamily
	err     error
	sharers int // scrapes waiting on it besides the one gathering; guarded by sharedGather.mu
}

// Gather implements prometheus.Gatherer.
func (s *sharedGather) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	if c := s.call; c != nil {
		c.sharers++
		s.mu.Unlock()
		<-c.done
		return c.mfs, c.err
	}
	c := &gatherCall{done: make(chan struct{})}
	s.call = c
	s.mu.Unlock()

	c.mfs, c.err = s.g.Gather()
	s.mu.Lock()
	s.call = nil
	s.mu.Unlock()
	close(c.done)
	return c.mfs, c.err
}

// waiting is how many scrapes wait on the gathering under way (tests).
func (s *sharedGather) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.call == nil {
		return 0
	}
	return s.call.sharers
}
