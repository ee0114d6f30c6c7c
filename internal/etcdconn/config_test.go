package etcdconn

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNormalizeEndpoint(t *testing.T) {
	cases := []struct {
		in     string
		tls    bool
		want   string
		errSub string
	}{
		{"127.0.0.1:2379", false, "http://127.0.0.1:2379", ""},
		{"etcd-0:2379", true, "https://etcd-0:2379", ""},
		{"https://10.0.0.1:2379/", false, "https://10.0.0.1:2379", ""},
		{"[::1]:2379", false, "http://[::1]:2379", ""},
		{"http://127.0.0.1", false, "", "want host:port"},
		{"ftp://x:1", false, "", "scheme"},
		{"http://x:1/v3", false, "", "path"},
		{"", false, "", "empty"},
		{"127.0.0.1:99999", false, "", "not a port"},
		{"127.0.0.1:0", false, "", "not a port"},
		{"http://127.0.0.1:http", false, "", "invalid port"},
		{"http://user:secret@127.0.0.1:2379", false, "", "user information"},
	}
	for _, c := range cases {
		got, err := NormalizeEndpoint(c.in, c.tls)
		if c.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.errSub)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
}

func TestLoadNamesTheField(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "endpoints"},
		{Config{Endpoints: []string{"x"}}, "endpoints[0]"},
		{Config{Endpoints: []string{"a:1"}, CertFile: "c"}, "key_file"},
		{Config{Endpoints: []string{"a:1"}, KeyFile: "k"}, "cert_file"},
		{Config{Endpoints: []string{"a:1"}, CAFile: filepath.Join(dir, "none")}, "ca_file"},
		{Config{Endpoints: []string{"a:1"}, Username: "u"}, "password_file"},
		{Config{Endpoints: []string{"a:1"}, PasswordFile: pw}, "username"},
		{Config{Endpoints: []string{"a:1"}, DialTimeout: -1}, "dial_timeout"},
		{Config{Endpoints: []string{"a:1"}, RequestTimeout: time.Nanosecond}, "request_timeout"},
		{Config{Endpoints: []string{"a:1", "b:99999"}}, "endpoints[1]"},
		{Config{Endpoints: []string{"http://a:1", "https://b:1"}}, "endpoints"},
		{Config{Endpoints: []string{"http://a:1"}, InsecureSkipVerify: true}, "insecure_skip_verify"},
	}
	for _, c := range cases {
		err := c.cfg.Load()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want a %s error", c.cfg, err, c.field)
		}
	}
	ok := Config{Endpoints: []string{"a:1"}, Username: "u", PasswordFile: pw}
	if err := ok.Load(); err != nil {
		t.Fatal(err)
	}
	if got := ok.ClientConfig(ok.Endpoints).Password; got != "hunter2" {
		t.Errorf("password read as %q", got)
	}
	for _, s := range []string{fmt.Sprint(ok), fmt.Sprintf("%+v", ok), fmt.Sprintf("%v", &ok), slogText(ok)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
}

// A cluster's endpoints get one scheme, whatever their order: the one the
// endpoints spelling a scheme agree on, else https with TLS settings, else
// http; differing schemes are refused.
func TestEndpointSchemes(t *testing.T) {
	for _, tc := range []struct {
		eps  []string
		tls  bool
		want string // joined, or the start of the error
	}{
		{[]string{"a:1", "https://b:1"}, false, "https://a:1,https://b:1"},
		{[]string{"https://b:1", "a:1"}, false, "https://b:1,https://a:1"},
		{[]string{"a:1", "http://b:1"}, true, "http://a:1,http://b:1"},
		{[]string{"a:1", "b:1"}, true, "https://a:1,https://b:1"},
		{[]string{"a:1", "b:1"}, false, "http://a:1,http://b:1"},
		{[]string{"HTTPS://a:1", "b:1"}, false, "https://a:1,https://b:1"},
		{[]string{"http://a:1", "c:1", "https://b:1"}, false, "endpoints: http://a:1 and https://b:1 use different schemes"},
		{[]string{"https://b:1", "http://a:1"}, true, "endpoints: https://b:1 and http://a:1 use different schemes"},
	} {
		got, err := NormalizeEndpoints(tc.eps, tc.tls)
		s := strings.Join(got, ",")
		if err != nil {
			s = err.Error()
		}
		if !strings.HasPrefix(s, tc.want) {
			t.Errorf("%v (TLS %v): got %s, want %s", tc.eps, tc.tls, s, tc.want)
		}
	}
}

func slogText(c Config) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "conn", c)
	return b.String()
}
