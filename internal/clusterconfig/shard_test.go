package clusterconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShardOfIsStable pins the hash: replicas of different versions must
// agree on who watches which cluster, or an upgrade would move clusters
// (and lose their history). The values are FNV-1a 64 of the name modulo the
// count, computed independently of Go's hash/fnv.
func TestShardOfIsStable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		of2, of3 int
		of10     int
	}{
		{"prod-a", 0, 1, 4},
		{"prod-b", 1, 0, 3},
		{"tenant-00", 0, 1, 8},
		{"tenant-01", 1, 2, 9},
		{"kamaji-tenant-42", 0, 1, 6},
	} {
		if got := [3]int{ShardOf(tc.name, 2), ShardOf(tc.name, 3), ShardOf(tc.name, 10)}; got != [3]int{tc.of2, tc.of3, tc.of10} {
			t.Errorf("ShardOf(%q, 2/3/10) = %v, want %v", tc.name, got, [3]int{tc.of2, tc.of3, tc.of10})
		}
	}
	if ShardOf("anything", 1) != 0 || !(Shard{}).Owns("anything") {
		t.Error("one replica must own every cluster")
	}
}

func TestShardCheck(t *testing.T) {
	for _, tc := range []struct {
		s    Shard
		want string
	}{
		{Shard{Index: 0, Count: 0}, "--shard.count"},
		{Shard{Index: 0, Count: -1}, "--shard.count"},
		{Shard{Index: 2, Count: 2}, "--shard.index"},
		{Shard{Index: -1, Count: 2}, "--shard.index"},
	} {
		if err := tc.s.Check(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.s, err, tc.want)
		}
	}
	if err := (Shard{Index: 2, Count: 3}).Check(); err != nil {
		t.Error(err)
	}
}

// TestLoadPath reads a directory and a glob of one-cluster files, in file
// name order, and refuses a name given in two files (naming both places),
// an empty directory and a glob matching nothing.
func TestLoadPath(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"b", "a", "c"} {
		writeFile(t, filepath.Join(dir, name+".yml"), fmt.Sprintf("clusters:\n  - name: %s\n    endpoints: [127.0.0.1:%d]\n", name, 2379+i))
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), "not a config")
	writeFile(t, filepath.Join(dir, ".hidden.yml"), "not: [a config")
	if err := os.Mkdir(filepath.Join(dir, "sub.yml"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{dir, filepath.Join(dir, "*.yml")} {
		cs, err := LoadPath(pattern, Defaults{})
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.Name)
		}
		if strings.Join(got, ",") != "a,b,c" {
			t.Errorf("%s: clusters %v, want a,b,c", pattern, got)
		}
	}
	fp1, err := Fingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "d.yml"), "clusters:\n  - name: a\n    endpoints: [127.0.0.1:2400]\n")
	if fp2, _ := Fingerprint(dir); fp2 == fp1 {
		t.Error("adding a file did not change the fingerprint")
	}
	_, err = LoadPath(dir, Defaults{})
	want := filepath.Join(dir, "d.yml") + `:2: clusters[0].name: duplicate cluster name "a" (first in ` + filepath.Join(dir, "a.yml") + ":2)"
	if err == nil || err.Error() != want {
		t.Errorf("duplicate across files: %v, want %s", err, want)
	}
	assertUsage(t, err)

	empty := t.TempDir()
	for pattern, want := range map[string]string{
		empty:                            "no *.yml or *.yaml file",
		filepath.Join(empty, "*.yaml"):   "matches no file",
		filepath.Join(empty, "nope.yml"): "cannot read",
		filepath.Join(empty, "[bad.yml"): "not a valid glob",
	} {
		_, err := LoadPath(pattern, Defaults{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", pattern, err, want)
		}
		assertUsage(t, err)
	}
}

// BenchmarkLoadPath1000Files reads and validates a directory of 1,000
// one-cluster files, as a reload of a fleet does, and fingerprints it, as
// the watcher does every --config.watch-interval.
func BenchmarkLoadPath1000Files(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		body := fmt.Sprintf("clusters:\n  - name: tenant-%04d\n    endpoints: [10.0.%d.%d:2379]\n    probe: {interval: 5s}\n", i, i/250, i%250)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("tenant-%04d.yml", i)), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("LoadPath", func(b *testing.B) {
		for b.Loop() {
			if cs, err := LoadPath(dir, Defaults{}); err != nil || len(cs) != 1000 {
				b.Fatal(len(cs), err)
			}
		}
	})
	b.Run("Fingerprint", func(b *testing.B) {
		for b.Loop() {
			if _, err := Fingerprint(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
