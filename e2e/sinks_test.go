package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testsink"
)

// notification is one message a person would have received.
type notification struct {
	At       time.Time
	Receiver string // slack, pagerduty, email
	Status   string // firing, resolved
	Alert    string // the group's alertname
	Cluster  string
	Body     string // what the person reads: title, text, details
}

func (n notification) String() string {
	return fmt.Sprintf("%s %s %s %s@%s", n.At.Format("15:04:05.000"), n.Receiver, n.Status, n.Alert, n.Cluster)
}

// sinks stand in for Slack, PagerDuty and the SMTP relay: Alertmanager's
// real integrations deliver to them over loopback.
type sinks struct {
	http *httptest.Server
	smtp net.Listener

	mu    sync.Mutex
	notes []notification
	bad   []string // payloads that could not be read
}

// The templates' titles: "[FIRING:2] EtcdMemberUnreachable on etcd cluster a"
// and "[RESOLVED] …"; PagerDuty's summary: "[FIRING:1] EtcdQuorumLost: …".
var (
	titleRe = regexp.MustCompile(`^\[(FIRING|RESOLVED)(?::\d+)?\] (\w+) on etcd cluster (\S+)`)
	pdRe    = regexp.MustCompile(`^\[(FIRING|RESOLVED)(?::\d+)?\] (\w+): `)
)

func startSinks(t *testing.T) *sinks {
	t.Helper()
	s := &sinks{}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.http.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.smtp = l
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go testsink.ServeSMTP(c, func(b []byte) { s.recordMail(time.Now(), b) })
		}
	}()
	return s
}

func (s *sinks) add(n notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, n)
}

func (s *sinks) reject(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, what)
}

func (s *sinks) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/slack":
		var p struct {
			Attachments []struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(body, &p); err != nil || len(p.Attachments) == 0 {
			s.reject("slack: " + string(body))
			http.Error(w, "bad slack payload", http.StatusBadRequest)
			return
		}
		a := p.Attachments[0]
		m := titleRe.FindStringSubmatch(a.Title)
		if m == nil {
			s.reject("slack title: " + a.Title)
		} else {
			s.add(notification{At: now, Receiver: "slack", Status: strings.ToLower(m[1]), Alert: m[2], Cluster: m[3], Body: a.Title + "\n" + a.Text})
		}
		_, _ = w.Write([]byte("ok"))
	case "/pagerduty":
		var p struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			Payload     struct {
				Summary       string            `json:"summary"`
				Severity      string            `json:"severity"`
				CustomDetails map[string]string `json:"custom_details"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			s.reject("pagerduty: " + string(body))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status := map[string]string{"trigger": "firing", "resolve": "resolved"}[p.EventAction]
		m := pdRe.FindStringSubmatch(p.Payload.Summary)
		if m == nil || status == "" {
			s.reject("pagerduty event: " + string(body))
		} else {
			s.add(notification{At: now, Receiver: "pagerduty", Status: status, Alert: m[2], Cluster: p.Payload.CustomDetails["cluster"],
				Body: fmt.Sprintf("key=%s severity=%s %s\nfiring: %s\nresolved: %s", p.RoutingKey, p.Payload.Severity, p.Payload.Summary,
					p.Payload.CustomDetails["firing"], p.Payload.CustomDetails["resolved"])})
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
	default:
		http.NotFound(w, r)
	}
}

func (s *sinks) recordMail(at time.Time, raw []byte) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		s.reject("mail: " + err.Error())
		return
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	text := ""
	if _, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				text = string(b)
			}
		}
	}
	m := titleRe.FindStringSubmatch(subject)
	if m == nil {
		s.reject("mail subject: " + subject)
		return
	}
	s.add(notification{At: at, Receiver: "email", Status: strings.ToLower(m[1]), Alert: m[2], Cluster: m[3], Body: "Subject: " + subject + "\n" + text})
}

// all returns the notifications received so far.
func (s *sinks) all() []notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notification(nil), s.notes...)
}

func (s *sinks) rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

// match selects notifications.
type match struct {
	receiver, status, alert, cluster string
	after                            time.Time
	contains                         string // in the body
}

func (m match) String() string {
	s := fmt.Sprintf("%s %s %s@%s after %s", m.receiver, m.status, m.alert, m.cluster, m.after.Format("15:04:05.000"))
	if m.contains != "" {
		s += fmt.Sprintf(" containing %q", m.contains)
	}
	return s
}

func (m match) ok(n notification) bool {
	return n.Receiver == m.receiver && n.Status == m.status && n.Alert == m.alert && n.Cluster == m.cluster &&
		!n.At.Before(m.after) && strings.Contains(n.Body, m.contains)
}

// find returns the first notification m selects.
func (s *sinks) find(m match) (notification, bool) {
	for _, n := range s.all() {
		if m.ok(n) {
			return n, true
		}
	}
	return notification{}, false
}

// waitFor waits until m's notification arrives or deadline passes.
func (s *sinks) waitFor(t *testing.T, m match, deadline time.Time) (notification, bool) {
	t.Helper()
	for {
		if n, ok := s.find(m); ok {
			return n, true
		}
		if time.Now().After(deadline) {
			return notification{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sinks) dump() string {
	var b strings.Builder
	for _, n := range s.all() {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	for _, r := range s.rejected() {
		fmt.Fprintf(&b, "  unreadable: %s\n", tail(r, 300))
	}
	return b.String()
}
