package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The webhook's flags: a token file that cannot be used and a budget that
// is no budget are refused at once, one line naming the flag, exit 2, for
// serve, demo and --config.check alike; the token never shows.
func TestWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret-token\n")
	cases := []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"serve", "--alerts.webhook-token-file=" + filepath.Join(dir, "missing"), "--config.check"}, 2, "--alerts.webhook-token-file: reading the token"},
		{[]string{"serve", "--alerts.webhook-token-file=" + write("empty", " \n"), "--config.check"}, 2, "--alerts.webhook-token-file: "},
		{[]string{"serve", "--alerts.webhook-token-file=" + write("two", "one two\n"), "--config.check"}, 2, "one word"},
		{[]string{"serve", "--alerts.webhook-token-file=" + write("huge", strings.Repeat("x", 5000)), "--config.check"}, 2, "at most 4096"},
		{[]string{"demo", "--alerts.webhook-token-file=" + filepath.Join(dir, "missing")}, 2, "--alerts.webhook-token-file"},
		{[]string{"serve", "--alerts.history-bytes=1KiB", "--config.check"}, 2, "--alerts.history-bytes: want 64KiB to 1GiB"},
		{[]string{"serve", "--alerts.history-bytes=2GiB", "--config.check"}, 2, "--alerts.history-bytes"},
		{[]string{"serve", "--alerts.history-bytes=lots", "--config.check"}, 2, "--alerts.history-bytes: \"lots\" is not a size"},
		{[]string{"serve", "--alerts.webhook-token-file=" + good, "--alerts.history-bytes=16MiB", "--config.check"}, 0, ""},
	}
	for _, tc := range cases {
		stdout, stderr, code := runCmd(t, nil, tc.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != tc.code || (tc.code != 0 && (len(lines) != 1 || !strings.Contains(stderr, tc.has))) {
			t.Errorf("%v: exit %d, stderr %q; want %d with one line containing %q", tc.args, code, stderr, tc.code, tc.has)
		}
		if strings.Contains(stdout+stderr, "s3cret-token") {
			t.Errorf("%v shows the token", tc.args)
		}
	}
}
