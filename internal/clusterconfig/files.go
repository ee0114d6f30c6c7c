package clusterconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/yamlerr"
)

// --config.file names one file, a directory or a glob, so that a GitOps
// repository or an operator can write one file per cluster. The rules:
//
//   - a directory means every *.yml and *.yaml file directly in it (not in
//     subdirectories; names starting with "." are skipped, such as the
//     "..data" entries of a Kubernetes ConfigMap volume);
//   - a path that does not exist and contains *, ? or [ is a glob
//     (filepath.Match syntax), matching files only, and, as in a shell,
//     not names starting with "." unless the pattern's does;
//   - each file is a complete config on its own, a clusters: list of at
//     least one entry; anchors and x- keys do not cross files, and relative
//     paths in a file are relative to that file's directory;
//   - the command-line flags are the defaults of every file;
//   - names are unique across all files: a name given twice is refused,
//     naming both places;
//   - clusters are watched in file-name order, then file order;
//   - matching no file is an error, as an empty file is: a directory
//     emptied by mistake (or half-written by a ConfigMap update) must not
//     stop every check. At a reload, any error keeps the running set.

// maxFiles bounds how many files one --config.file may match.
const maxFiles = 10000

// Files lists the config files pattern names, sorted.
func Files(pattern string) ([]string, error) {
	st, err := os.Stat(pattern)
	switch {
	case err == nil && !st.IsDir():
		return []string{pattern}, nil
	case err == nil:
		return dirFiles(pattern)
	case errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(pattern, "*?["):
		return globFiles(pattern)
	default:
		return nil, readError(pattern, err)
	}
}

func dirFiles(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, readError(dir, err)
	}
	var out []string
	for _, de := range des {
		name := de.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		path := filepath.Join(dir, name)
		// Stat follows symlinks, as ConfigMap volumes use them.
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			continue
		}
		out = append(out, path)
	}
	if len(out) == 0 {
		return nil, cli.Usagef("%s: a directory with no *.yml or *.yaml file: no clusters configured", dir)
	}
	return bounded(dir, out)
}

func globFiles(pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, cli.Usagef("%s: not a valid glob: %v", pattern, err)
	}
	// As a shell does, * does not match a leading dot unless the pattern
	// starts with one.
	hidden := strings.HasPrefix(filepath.Base(pattern), ".")
	var out []string
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), ".") && !hidden {
			continue
		}
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, cli.Usagef("%s: matches no file: no clusters configured", pattern)
	}
	slices.Sort(out)
	return bounded(pattern, out)
}

func bounded(pattern string, files []string) ([]string, error) {
	if len(files) > maxFiles {
		return nil, cli.Usagef("%s: %d files, more than %d", pattern, len(files), maxFiles)
	}
	return files, nil
}

// LoadPath reads and validates every config file pattern names (Files) and
// returns their clusters, file after file; see Parse. The first problem is
// returned as one line naming its file.
func LoadPath(pattern string, defaults Defaults) ([]collector.ClusterConfig, error) {
	files, err := Files(pattern)
	if err != nil {
		return nil, err
	}
	type place struct {
		file string
		line int
	}
	first := map[string]place{}
	var out []collector.ClusterConfig
	for _, file := range files {
		data, err := readFile(file)
		if err != nil {
			return nil, err
		}
		entries, err := parseLoaded(file, data, defaults)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if p, dup := first[e.cfg.Name]; dup {
				return nil, usage(yamlerr.Errorf(file, e.nameLine, e.path+".name", "duplicate cluster name %q (first in %s:%d)", e.cfg.Name, p.file, p.line))
			}
			first[e.cfg.Name] = place{file, e.nameLine}
			out = append(out, e.cfg)
		}
	}
	return out, nil
}

// Fingerprint is a digest of the names and contents of the files pattern
// names, to notice a change by polling: a file added, removed, renamed or
// rewritten changes it. An error (no file, an unreadable one) is reported
// as LoadPath would.
func Fingerprint(pattern string) (string, error) {
	files, err := Files(pattern)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
