package alerthistory

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// MaxBody bounds a webhook body. Alertmanager's are one to two KiB per
// alert, and the shipped alertmanager.yml sends at most 100 alerts a
// notification (max_alerts), so 1 MiB leaves room while keeping what one
// request can make the monitor decode small.
const MaxBody = 1 << 20

// Decode reads and validates a webhook body of at most MaxBody bytes.
// Errors describe what is wrong for a 400 answer; a longer body gives an
// error wrapping *http.MaxBytesError (413).
func Decode(r io.Reader) (*Webhook, error) {
	// MaxBytesReader with no ResponseWriter only counts: the handler wraps
	// the request body in its own to close the connection as well.
	dec := json.NewDecoder(http.MaxBytesReader(nil, io.NopCloser(r), MaxBody))
	var w Webhook
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("body is not an Alertmanager webhook payload: %w", err)
	}
	if dec.More() {
		return nil, errors.New("body holds more than one JSON document")
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, fmt.Errorf("body after the payload: %w", err)
	}
	if w.Version != "4" {
		return nil, fmt.Errorf("version %q: want Alertmanager's webhook version \"4\"", clip(w.Version, 64))
	}
	if w.Status != "firing" && w.Status != "resolved" {
		return nil, fmt.Errorf("status %q: want firing or resolved", clip(w.Status, 64))
	}
	if len(w.Alerts) == 0 {
		return nil, errors.New("alerts: empty")
	}
	for i, a := range w.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("alerts[%d].status %q: want firing or resolved", i, clip(a.Status, 64))
		}
		if a.Labels["alertname"] == "" {
			return nil, fmt.Errorf("alerts[%d].labels.alertname: missing", i)
		}
	}
	return &w, nil
}

// IsTooLarge reports whether err comes from a body over MaxBody.
func IsTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
