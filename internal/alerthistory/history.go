// Package alerthistory keeps the notifications Alertmanager sends to the
// monitor's webhook: each is logged as one structured line (the seed's
// console channel) and kept in a bounded in-memory history for the API and
// the status page. Long-term history belongs to Prometheus (ALERTS) and
// Alertmanager, not here.
package alerthistory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Webhook is Alertmanager's webhook payload (version 4).
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert in a Webhook.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// MaxBody bounds a webhook body; Alertmanager's are a few KiB per alert.
const MaxBody = 4 << 20

// Decode reads and validates a webhook body. Errors describe what is wrong
// for a 400 answer.
func Decode(r io.Reader) (*Webhook, error) {
	dec := json.NewDecoder(io.LimitReader(r, MaxBody+1))
	var w Webhook
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("body is not an Alertmanager webhook payload: %w", err)
	}
	if dec.More() {
		return nil, errors.New("body holds more than one JSON document")
	}
	if w.Version != "4" {
		return nil, fmt.Errorf("version %q: want Alertmanager's webhook version \"4\"", w.Version)
	}
	if w.Status != "firing" && w.Status != "resolved" {
		return nil, fmt.Errorf("status %q: want firing or resolved", w.Status)
	}
	if len(w.Alerts) == 0 {
		return nil, errors.New("alerts: empty")
	}
	for i, a := range w.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("alerts[%d].status %q: want firing or resolved", i, a.Status)
		}
		if a.Labels["alertname"] == "" {
			return nil, fmt.Errorf("alerts[%d].labels.alertname: missing", i)
		}
	}
	return &w, nil
}

// Entry is one alert notification as kept in the history.
type Entry struct {
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
}

// Store is a bounded, concurrency-safe history, newest kept.
type Store struct {
	max          int
	clusterLabel string
	logger       *slog.Logger

	mu      sync.Mutex
	entries []Entry // oldest first
}

// New returns a store keeping at most max entries. clusterLabel is the label
// that names the cluster in alerts (etcd_cluster).
func New(max int, clusterLabel string, logger *slog.Logger) *Store {
	return &Store{max: max, clusterLabel: clusterLabel, logger: logger}
}

// Add records every alert of a notification and logs each as one line.
func (s *Store) Add(w *Webhook, now time.Time) []Entry {
	added := make([]Entry, 0, len(w.Alerts))
	for _, a := range w.Alerts {
		e := Entry{
			ReceivedAt: now.UTC(), Status: a.Status, AlertName: a.Labels["alertname"],
			Cluster: a.Labels[s.clusterLabel], Severity: a.Labels["severity"], Member: a.Labels["member"],
			Summary: a.Annotations["summary"], Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt.UTC(), Fingerprint: a.Fingerprint, Receiver: w.Receiver,
		}
		if !a.EndsAt.IsZero() && a.EndsAt.Year() > 1 {
			t := a.EndsAt.UTC()
			e.EndsAt = &t
		}
		added = append(added, e)
		level := slog.LevelWarn
		if e.Status == "resolved" {
			level = slog.LevelInfo
		} else if e.Severity == "critical" {
			level = slog.LevelError
		}
		s.logger.Log(context.Background(), level, "alert", "status", e.Status, "alertname", e.AlertName, "etcd_cluster", e.Cluster,
			"severity", e.Severity, "member", e.Member, "summary", e.Summary, "starts_at", e.StartsAt, "receiver", e.Receiver)
	}
	s.mu.Lock()
	s.entries = append(s.entries, added...)
	if over := len(s.entries) - s.max; over > 0 {
		s.entries = append([]Entry(nil), s.entries[over:]...)
	}
	s.mu.Unlock()
	return added
}

// Filter selects history entries; empty fields match everything.
type Filter struct {
	Cluster   string
	AlertName string
	Status    string
	Limit     int
}

// List returns matching entries, newest first.
func (s *Store) List(f Filter) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Entry{}
	for i := len(s.entries) - 1; i >= 0; i-- {
		e := s.entries[i]
		if (f.Cluster != "" && e.Cluster != f.Cluster) || (f.AlertName != "" && e.AlertName != f.AlertName) || (f.Status != "" && e.Status != f.Status) {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}
