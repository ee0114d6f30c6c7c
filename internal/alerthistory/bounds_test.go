package alerthistory

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func newTestStore(maxEntries int, opts ...Option) *Store {
	return New(maxEntries, "etcd_cluster", slog.New(slog.DiscardHandler), opts...)
}

func alert(labels, annotations map[string]string) WebhookAlert {
	return WebhookAlert{Status: "firing", Labels: labels, Annotations: annotations}
}

// Each alert is cut to the per-alert bounds by one rule: names and values
// clipped (marked with …), at most MaxFields of each kind, the shown ones
// (cluster, alertname, severity, member, summary) kept first, and at most
// MaxEntryBytes in all. Before, everything was kept as sent.
func TestEntryBounds(t *testing.T) {
	many := map[string]string{"alertname": "A", "etcd_cluster": "prod", "severity": "critical"}
	for i := range 200 {
		many[fmt.Sprintf("l%03d", i)] = "v"
	}
	bigAnn := map[string]string{"summary": "short"}
	for i := range 60 {
		bigAnn[fmt.Sprintf("a%02d", i)] = strings.Repeat("x", MaxAnnotationValueBytes)
	}
	cases := []struct {
		name      string
		in        WebhookAlert
		truncated bool
		check     func(t *testing.T, e Entry)
	}{
		{"as sent", alert(map[string]string{"alertname": "A", "etcd_cluster": "prod"}, map[string]string{"summary": "s"}), false,
			func(t *testing.T, e Entry) {
				if e.AlertName != "A" || e.Cluster != "prod" || e.Summary != "s" {
					t.Errorf("entry %+v", e)
				}
			}},
		{"long label value", alert(map[string]string{"alertname": "A", "member": strings.Repeat("m", 5000)}, nil), true,
			func(t *testing.T, e Entry) {
				if len(e.Member) != MaxLabelValueBytes || !strings.HasSuffix(e.Member, TruncationMark) {
					t.Errorf("member of %d bytes: %q...", len(e.Member), e.Member[:20])
				}
			}},
		{"long annotation", alert(map[string]string{"alertname": "A"}, map[string]string{"summary": strings.Repeat("é", 10000)}), true,
			func(t *testing.T, e Entry) {
				if len(e.Summary) > MaxAnnotationValueBytes || !utf8.ValidString(e.Summary) || !strings.HasSuffix(e.Summary, TruncationMark) {
					t.Errorf("summary of %d bytes, valid UTF-8 %v", len(e.Summary), utf8.ValidString(e.Summary))
				}
			}},
		{"long name", alert(map[string]string{"alertname": "A", strings.Repeat("n", 1000): "v"}, nil), true,
			func(t *testing.T, e Entry) {
				for k := range e.Labels {
					if len(k) > MaxNameBytes {
						t.Errorf("label name of %d bytes", len(k))
					}
				}
			}},
		{"too many labels", alert(many, nil), true,
			func(t *testing.T, e Entry) {
				if len(e.Labels) != MaxFields || e.AlertName != "A" || e.Cluster != "prod" || e.Severity != "critical" {
					t.Errorf("%d labels, alertname %q cluster %q severity %q", len(e.Labels), e.AlertName, e.Cluster, e.Severity)
				}
				if _, ok := e.Labels["l000"]; !ok {
					t.Error("the first labels by name were dropped instead of the last")
				}
			}},
		{"too many bytes", alert(map[string]string{"alertname": "A"}, bigAnn), true,
			func(t *testing.T, e Entry) {
				if e.Summary != "short" || len(e.Annotations) >= 61 {
					t.Errorf("summary %q, %d annotations", e.Summary, len(e.Annotations))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(10)
			got := s.Add(&Webhook{Version: "4", Status: "firing", Receiver: "r", Alerts: []WebhookAlert{tc.in}}, time.Now())
			if len(got) != 1 {
				t.Fatalf("%d entries", len(got))
			}
			e := got[0]
			if e.Truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", e.Truncated, tc.truncated)
			}
			if e.Size() > MaxEntryBytes {
				t.Errorf("entry of %d bytes, bound %d", e.Size(), MaxEntryBytes)
			}
			tc.check(t, e)
		})
	}
}

// The history holds its byte budget and its count bound; the oldest go
// first. Before, 1000 entries of any size were kept.
func TestStoreBudget(t *testing.T) {
	const budget = 256 << 10
	s := newTestStore(1000, MaxBytes(budget))
	big := strings.Repeat("x", MaxAnnotationValueBytes)
	for i := range 300 {
		w := &Webhook{Version: "4", Status: "firing", Alerts: []WebhookAlert{
			alert(map[string]string{"alertname": fmt.Sprint("A", i)}, map[string]string{"summary": big, "description": big, "x": big}),
		}}
		s.Add(w, time.Now())
		if s.Bytes() > budget {
			t.Fatalf("after %d alerts: %d bytes kept, budget %d", i+1, s.Bytes(), budget)
		}
	}
	got := s.List(Filter{})
	if len(got) == 0 || len(got) >= 300 || got[0].AlertName != "A299" {
		t.Fatalf("%d entries kept, newest %q", len(got), got[0].AlertName)
	}
	if s.Len()*got[0].Size() > budget {
		t.Errorf("%d entries of %d bytes exceed the budget", s.Len(), got[0].Size())
	}
	// The count bound, with small alerts.
	s = newTestStore(5)
	for i := range 20 {
		s.Add(&Webhook{Alerts: []WebhookAlert{alert(map[string]string{"alertname": fmt.Sprint("B", i)}, nil)}}, time.Now())
	}
	if got := s.List(Filter{}); len(got) != 5 || got[0].AlertName != "B19" || got[4].AlertName != "B15" {
		t.Errorf("count bound: %d entries, %+v", len(got), got)
	}
	// A budget below the minimum counts as the minimum.
	if s := newTestStore(10, MaxBytes(1)); s.maxBytes != MinMaxBytes {
		t.Errorf("MaxBytes(1) gave %d", s.maxBytes)
	}
}

// Pages by cursor see every entry once, newest first, however many
// arrive in between.
func TestPages(t *testing.T) {
	s := newTestStore(1000)
	add := func(n int, name string) {
		for range n {
			s.Add(&Webhook{Alerts: []WebhookAlert{alert(map[string]string{"alertname": name}, nil)}}, time.Now())
		}
	}
	add(250, "A")
	var ids []uint64
	f := Filter{Limit: 100}
	for page := 0; ; page++ {
		got, next := s.Page(f)
		if page == 0 {
			add(10, "new") // arrive while paging: not on the older pages
		}
		for _, e := range got {
			if e.AlertName != "A" {
				t.Fatalf("page %d holds %q", page, e.AlertName)
			}
			ids = append(ids, e.ID)
		}
		if next == 0 {
			break
		}
		f.Before = next
	}
	if len(ids) != 250 {
		t.Fatalf("%d entries over the pages, want 250", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("not newest first: %d after %d", ids[i], ids[i-1])
		}
	}
	add(300, "B")
	if got, _ := s.Page(Filter{Limit: 1 << 30}); len(got) != MaxPage {
		t.Errorf("limit beyond MaxPage gave %d entries", len(got))
	}
}

// Bodies over MaxBody are refused as too large (413), not as broken JSON;
// before, they were cut and answered "unexpected EOF".
func TestDecodeTooLarge(t *testing.T) {
	valid := []byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"x"}}]}`)
	padded := append(bytes.Clone(valid[:len(valid)-1]), []byte(`,"pad":"`+strings.Repeat("x", MaxBody)+`"}`)...)
	cases := []struct {
		name     string
		body     []byte
		tooLarge bool
		ok       bool
	}{
		{"valid", valid, false, true},
		{"valid, trailing space to the limit", append(bytes.Clone(valid), bytes.Repeat([]byte(" "), MaxBody-len(valid))...), false, true},
		{"over the limit", padded, true, false},
		{"broken", []byte(`{"version":`), false, false},
		{"two documents", append(bytes.Clone(valid), valid...), false, false},
	}
	for _, tc := range cases {
		_, err := Decode(bytes.NewReader(tc.body))
		if (err == nil) != tc.ok || IsTooLarge(err) != tc.tooLarge {
			t.Errorf("%s: err %v, too large %v", tc.name, err, IsTooLarge(err))
		}
	}
}

// Writers and readers at once (run with -race): the bounds hold throughout.
func TestConcurrentAddAndPage(t *testing.T) {
	s := newTestStore(100, MaxBytes(MinMaxBytes))
	big := strings.Repeat("y", MaxAnnotationValueBytes)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 200 {
				release, _ := s.Acquire(context.Background())
				s.Add(&Webhook{Alerts: []WebhookAlert{alert(map[string]string{"alertname": fmt.Sprint("W", w, "-", i)}, map[string]string{"summary": big})}}, time.Now())
				release()
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				got, _ := s.Page(Filter{Limit: 50})
				if len(got) > 50 || s.Bytes() > MinMaxBytes || s.Len() > 100 {
					t.Errorf("%d entries on a page, %d bytes, %d kept", len(got), s.Bytes(), s.Len())
					return
				}
			}
		}()
	}
	wg.Wait()
}
