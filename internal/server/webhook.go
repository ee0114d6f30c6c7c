package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
)

// AlertOptions configure the alert webhook and its history.
type AlertOptions struct {
	// HistoryBytes is the history's budget (default
	// alerthistory.DefaultMaxBytes).
	HistoryBytes int
	// WebhookToken, when set, is the bearer token POST /api/v1/alerts
	// requires. Never logged.
	WebhookToken []byte
}

// alertFlags are the webhook's flags: registered apart from the others so
// that they stay one concern.
type alertFlags struct {
	historyBytes historyBytes
	token        tokenFile
}

func registerAlertFlags(cmd *kingpin.CmdClause) *alertFlags {
	f := &alertFlags{historyBytes: alerthistory.DefaultMaxBytes}
	cmd.Flag("alerts.history-bytes", fmt.Sprintf("Memory budget of the alert history (POST /api/v1/alerts), e.g. 4MiB: the oldest alerts are dropped first; at most %d alerts are kept either way.", alerthistory.DefaultMaxEntries)).
		Default(bytesize.Exact(alerthistory.DefaultMaxBytes)).SetValue(&f.historyBytes)
	cmd.Flag("alerts.webhook-token-file", "File holding the bearer token POST /api/v1/alerts requires (Alertmanager: http_config.authorization.credentials_file); without it, anyone who can reach the port can write the alert history.").
		PlaceHolder("FILE").SetValue(&f.token)
	return f
}

// options returns the parsed values; they were validated as they were set.
func (f *alertFlags) options() AlertOptions {
	return AlertOptions{HistoryBytes: int(f.historyBytes), WebhookToken: f.token.token}
}

// historyBytes is a size such as 4MiB, at least alerthistory.MinMaxBytes and
// at most 1 GiB (a typo, not a budget).
type historyBytes int

func (h *historyBytes) Set(s string) error {
	v, err := bytesize.Parse(s)
	if err != nil {
		return err
	}
	if v < alerthistory.MinMaxBytes || v > 1<<30 {
		return fmt.Errorf("want %s to 1GiB, got %s", bytesize.Exact(alerthistory.MinMaxBytes), s)
	}
	*h = historyBytes(v)
	return nil
}

func (h *historyBytes) String() string { return strconv.Itoa(int(*h)) }

// maxTokenBytes bounds the token file: a token, not a document.
const maxTokenBytes = 4 << 10

// tokenFile reads the token when the flag is set, so a missing or empty
// file is a usage error at once (and in --config.check). String never
// shows the token.
type tokenFile struct {
	path  string
	token []byte
}

func (t *tokenFile) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the token: %w", err)
	}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("%s is empty: want the bearer token", path)
	case len(b) > maxTokenBytes:
		return fmt.Errorf("%s holds %d bytes: want a token of at most %d", path, len(b), maxTokenBytes)
	case bytes.ContainsAny(b, "\r\n\t "):
		return errors.New(path + ": the token must be one word (no spaces or line breaks)")
	}
	t.path, t.token = path, b
	return nil
}

func (t *tokenFile) String() string { return t.path }
