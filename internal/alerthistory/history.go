// Package alerthistory keeps the notifications Alertmanager sends to the
// monitor's webhook: each is logged as one structured line (the console
// channel of the original etcd-monitor guide) and kept in a history bounded
// in entries and in bytes, for the API and the status page. Long-term
// history belongs to Prometheus (ALERTS) and Alertmanager, not here.
package alerthistory

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Bounds of a history.
const (
	// DefaultMaxEntries is how many alerts the history keeps at most.
	DefaultMaxEntries = 1000
	// DefaultMaxBytes is the history's default budget in bytes (by
	// Entry.Size): newest kept, oldest dropped first.
	DefaultMaxBytes = 4 << 20
	// MinMaxBytes is the smallest budget accepted: a few entries of the
	// largest size.
	MinMaxBytes = 4 * MaxEntryBytes
	// MaxPage bounds the entries one List returns.
	MaxPage = 500
	// slots is how many webhook bodies are decoded, and history pages
	// encoded, at once: the rest wait, so that many concurrent requests
	// cannot multiply the memory one costs (about 1 MiB of body or page).
	slots = 4
)

// Entry is one alert notification as kept in the history.
type Entry struct {
	// ID numbers the entries in the order received; List's cursor.
	ID          uint64            `json:"id"`
	ReceivedAt  time.Time         `json:"received_at"`
	Status      string            `json:"status"`
	AlertName   string            `json:"alertname"`
	Cluster     string            `json:"cluster"`
	Severity    string            `json:"severity"`
	Member      string            `json:"member,omitempty"`
	Summary     string            `json:"summary,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      *time.Time        `json:"ends_at,omitempty"`
	Fingerprint string            `json:"fingerprint"`
	Receiver    string            `json:"receiver"`
	// Truncated says labels or annotations were cut or dropped to the
	// per-alert bounds.
	Truncated bool `json:"truncated,omitempty"`

	size int
}

// Size is what the entry counts against the history's byte budget: its
// strings plus an estimate of the structures holding them.
func (e *Entry) Size() int { return e.size }

// Store is a bounded, concurrency-safe history, newest kept.
type Store struct {
	maxEntries   int
	maxBytes     int
	clusterLabel string
	logger       *slog.Logger
	slots        chan struct{}

	mu      sync.Mutex
	entries []Entry // oldest first
	bytes   int
	nextID  uint64
}

// Option changes a Store's defaults.
type Option func(*Store)

// MaxBytes sets the history's budget in bytes, by Entry.Size (default
// DefaultMaxBytes; less than MinMaxBytes counts as MinMaxBytes).
func MaxBytes(n int) Option { return func(s *Store) { s.maxBytes = max(n, MinMaxBytes) } }

// New returns a store keeping at most maxEntries entries and
// DefaultMaxBytes bytes unless MaxBytes says otherwise. clusterLabel is the
// label that names the cluster in alerts (etcd_cluster).
func New(maxEntries int, clusterLabel string, logger *slog.Logger, opts ...Option) *Store {
	s := &Store{
		maxEntries: max(maxEntries, 1), maxBytes: DefaultMaxBytes,
		clusterLabel: clusterLabel, logger: logger, slots: make(chan struct{}, slots), nextID: 1,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Acquire waits for one of the few slots for decoding a webhook body or
// encoding a page of history; call release when done. It fails only when
// ctx is done first.
func (s *Store) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Bytes returns the size of the entries kept, by Entry.Size.
func (s *Store) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Len returns the number of entries kept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// entry turns an alert into a bounded entry.
func (s *Store) entry(a WebhookAlert, receiver string, now time.Time) Entry {
	e := Entry{ReceivedAt: now.UTC(), Status: a.Status, StartsAt: a.StartsAt.UTC(),
		Fingerprint: clip(a.Fingerprint, maxStringBytes), Receiver: clip(receiver, maxStringBytes)}
	if !a.EndsAt.IsZero() && a.EndsAt.Year() > 1 {
		t := a.EndsAt.UTC()
		e.EndsAt = &t
	}
	fixed := entryOverhead + len(e.Fingerprint) + len(e.Receiver)
	// Labels first: they say which alert it is.
	var labelBytes, annBytes int
	var cutL, cutA bool
	e.Labels, labelBytes, cutL = bound(a.Labels, s.clusterLabel, MaxLabelValueBytes, MaxEntryBytes-fixed)
	e.Annotations, annBytes, cutA = bound(a.Annotations, s.clusterLabel, MaxAnnotationValueBytes, MaxEntryBytes-fixed-labelBytes)
	e.Truncated = cutL || cutA
	e.size = fixed + labelBytes + annBytes
	// These share the maps' strings: no bytes of their own.
	e.AlertName, e.Cluster, e.Severity, e.Member = e.Labels["alertname"], e.Labels[s.clusterLabel], e.Labels["severity"], e.Labels["member"]
	e.Summary = e.Annotations["summary"]
	return e
}

// Add records every alert of a notification, each bounded to the per-alert
// limits, and logs each as one line; the oldest entries are dropped to stay
// within the store's bounds.
func (s *Store) Add(w *Webhook, now time.Time) []Entry {
	added := make([]Entry, 0, min(len(w.Alerts), s.maxEntries))
	for i, a := range w.Alerts {
		e := s.entry(a, w.Receiver, now)
		level := slog.LevelWarn
		if e.Status == "resolved" {
			level = slog.LevelInfo
		} else if e.Severity == "critical" {
			level = slog.LevelError
		}
		s.logger.Log(context.Background(), level, "alert", "status", e.Status, "alertname", e.AlertName, "etcd_cluster", e.Cluster,
			"severity", e.Severity, "member", e.Member, "summary", e.Summary, "starts_at", e.StartsAt, "receiver", e.Receiver)
		// Only the newest maxEntries of one notification could be kept.
		if len(w.Alerts)-i <= s.maxEntries {
			added = append(added, e)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range added {
		added[i].ID = s.nextID
		s.nextID++
		s.entries = append(s.entries, added[i])
		s.bytes += added[i].size
		for len(s.entries) > s.maxEntries || s.bytes > s.maxBytes {
			s.bytes -= s.entries[0].size
			// Cleared so the backing array does not keep it alive.
			s.entries[0] = Entry{}
			s.entries = s.entries[1:]
		}
	}
	return added
}

// Filter selects history entries; empty fields match everything.
type Filter struct {
	Cluster   string
	AlertName string
	Status    string
	// Limit is the most entries returned: 0 or more than MaxPage means
	// MaxPage.
	Limit int
	// Before, when not 0, returns only entries older than the one with
	// this ID: the Next of the previous page.
	Before uint64
}

func (f Filter) match(e *Entry) bool {
	return (f.Cluster == "" || e.Cluster == f.Cluster) && (f.AlertName == "" || e.AlertName == f.AlertName) &&
		(f.Status == "" || e.Status == f.Status) && (f.Before == 0 || e.ID < f.Before)
}

// List returns matching entries, newest first: one page of Page.
func (s *Store) List(f Filter) []Entry {
	out, _ := s.Page(f)
	return out
}

// Page returns matching entries, newest first, and the cursor for the next
// page (Filter.Before), 0 when there are no older matching entries. The
// entries share their maps with the store: read them, do not change them.
func (s *Store) Page(f Filter) ([]Entry, uint64) {
	limit := f.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Entry{}
	for i := len(s.entries) - 1; i >= 0; i-- {
		e := &s.entries[i]
		if !f.match(e) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID
		}
		out = append(out, *e)
	}
	return out, 0
}
