package testsink

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
)

// Notification is one message a person (or the webhook) would have
// received, read back from what Alertmanager's integration sent.
type Notification struct {
	At       time.Time
	Receiver string // slack, pagerduty, email, webhook
	Status   string // firing, resolved
	Alert    string // the group's alertname
	Cluster  string // the group's etcd_cluster
	Body     string // what the person reads: title, text, details
	// Alerts are the labels of each alert of the group; only the webhook
	// payload carries them.
	Alerts []map[string]string
}

func (n Notification) String() string {
	return fmt.Sprintf("%s %s %s %s@%s", n.At.Format("15:04:05.000"), n.Receiver, n.Status, n.Alert, n.Cluster)
}

// Sinks stand in for Slack (HTTP.URL+"/slack"), PagerDuty ("/pagerduty"), a
// webhook receiver ("/webhook") and the SMTP relay (SMTP): Alertmanager's
// real integrations deliver to them over loopback. They keep every
// notification they could read, and what they could not.
type Sinks struct {
	HTTP *httptest.Server
	SMTP net.Listener

	mu    sync.Mutex
	notes []Notification
	bad   []string // payloads that could not be read
}

// The templates' titles: "[FIRING:2] EtcdMemberUnreachable on etcd cluster a"
// and "[RESOLVED] …"; PagerDuty's summary: "[FIRING:1] EtcdQuorumLost: …".
var (
	titleRe = regexp.MustCompile(`^\[(FIRING|RESOLVED)(?::\d+)?\] (\w+) on etcd cluster (\S+)`)
	pdRe    = regexp.MustCompile(`^\[(FIRING|RESOLVED)(?::\d+)?\] (\w+): `)
)

// Start starts the sinks; they are closed when the test ends.
func Start(t testing.TB) *Sinks {
	t.Helper()
	s := &Sinks{}
	s.HTTP = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.HTTP.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.SMTP = l
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go ServeSMTP(c, func(b []byte) { s.recordMail(time.Now(), b) })
		}
	}()
	return s
}

// All returns the notifications received so far, in order of arrival.
func (s *Sinks) All() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.notes...)
}

// Rejected returns the payloads that could not be read as a notification.
func (s *Sinks) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

func (s *Sinks) add(n Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, n)
}

func (s *Sinks) reject(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, what)
}

func (s *Sinks) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/webhook":
		var p struct {
			Status string `json:"status"`
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
			GroupLabels map[string]string `json:"groupLabels"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			s.reject("webhook: " + string(body))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := Notification{At: now, Receiver: "webhook", Status: p.Status, Alert: p.GroupLabels["alertname"], Cluster: p.GroupLabels["etcd_cluster"], Body: string(body)}
		for _, a := range p.Alerts {
			n.Alerts = append(n.Alerts, a.Labels)
		}
		s.add(n)
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
			s.add(Notification{At: now, Receiver: "slack", Status: strings.ToLower(m[1]), Alert: m[2], Cluster: m[3], Body: a.Title + "\n" + a.Text})
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
			s.add(Notification{At: now, Receiver: "pagerduty", Status: status, Alert: m[2], Cluster: p.Payload.CustomDetails["cluster"],
				Body: fmt.Sprintf("key=%s severity=%s %s\nfiring: %s\nresolved: %s", p.RoutingKey, p.Payload.Severity, p.Payload.Summary,
					p.Payload.CustomDetails["firing"], p.Payload.CustomDetails["resolved"])})
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
	default:
		http.NotFound(w, r)
	}
}

func (s *Sinks) recordMail(at time.Time, raw []byte) {
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
			b, _ := io.ReadAll(p) // quoted-printable is decoded by NextPart
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
	s.add(Notification{At: at, Receiver: "email", Status: strings.ToLower(m[1]), Alert: m[2], Cluster: m[3], Body: "Subject: " + subject + "\n" + text})
}
