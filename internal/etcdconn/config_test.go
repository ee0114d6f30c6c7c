package etcdconn

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{Config{Endpoints: []string{"x"}}, "endpoints"},
		{Config{Endpoints: []string{"a:1"}, CertFile: "c"}, "key_file"},
		{Config{Endpoints: []string{"a:1"}, KeyFile: "k"}, "cert_file"},
		{Config{Endpoints: []string{"a:1"}, CAFile: filepath.Join(dir, "none")}, "ca_file"},
		{Config{Endpoints: []string{"a:1"}, Username: "u"}, "password_file"},
		{Config{Endpoints: []string{"a:1"}, PasswordFile: pw}, "username"},
		{Config{Endpoints: []string{"a:1"}, DialTimeout: -1}, "dial_timeout"},
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

func slogText(c Config) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "conn", c)
	return b.String()
}
