package clusterconfig

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/yamlerr"
)

// index walks the parsed document once before it is decoded. It records
// the path of every key and value by line, so an error yaml.v3 reports with
// a line only ("line 4: field colour not found") names its field
// ("clusters[0].colour"), and it checks what yaml.v3 would report without a
// line or less helpfully: the top-level shape, each entry's shape, keys
// that are not names, duplicate keys, merges of something else than
// mappings, and aliases that expand a small file into a huge one.
type index struct {
	file string
	// at holds, by line, the keys and values found there, in the order
	// walked: the clusters first, so a mapping merged into an entry is
	// named by the entry ("clusters[0].colour") rather than by the x- key
	// holding its anchor.
	at      map[int][]spot
	entries []entryInfo
	// budget is how many more values may be visited, of limit. Aliases let
	// a small file name the same large list from every entry, so work is
	// bounded by the file's size, not by what its aliases expand to.
	budget, limit int
}

type spot struct {
	key  string // "" for a value
	path string
}

type entryInfo struct {
	line      int // of the entry's mapping
	itemLine  int // of the list item (an alias's own line)
	alias     bool
	probeLine int
}

// maxMergeDepth bounds merge keys whose mappings themselves merge others.
const maxMergeDepth = 32

func newIndex(file string, root *yaml.Node, size int) (*index, error) {
	// A file without aliases has fewer values than bytes: it is never
	// refused for size here.
	limit := 1<<20 + 2*size
	ix := &index{file: file, at: map[int][]spot{}, budget: limit, limit: limit}
	var list *yaml.Node
	var listKey *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := yamlerr.Resolve(root.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == "clusters" {
			if listKey != nil {
				return nil, ix.errf(k.Line, "clusters", "duplicate field (first at line %d)", listKey.Line)
			}
			listKey, list = root.Content[i], root.Content[i+1]
		}
	}
	if list == nil {
		return nil, ix.errf(root.Line, "clusters", "required: the list of clusters to watch")
	}
	l := yamlerr.Resolve(list)
	switch {
	case l == nil || yamlerr.IsNull(l):
		return nil, ix.errf(listKey.Line, "clusters", "no clusters configured")
	case l.Kind != yaml.SequenceNode:
		return nil, ix.errf(list.Line, "clusters", "want a list of clusters, got %s", yamlerr.Kind(l))
	case len(l.Content) == 0:
		return nil, ix.errf(list.Line, "clusters", "no clusters configured")
	}
	ix.add(listKey.Line, "clusters", "clusters")
	for i, item := range l.Content {
		path := fmt.Sprintf("clusters[%d]", i)
		if err := ix.spend(item, path); err != nil {
			return nil, err
		}
		n := yamlerr.Resolve(item)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil, ix.errf(item.Line, path, "want a cluster (a mapping with name, endpoints, …), got %s", yamlerr.Kind(n))
		}
		info := entryInfo{line: n.Line, itemLine: item.Line, alias: item.Kind == yaml.AliasNode}
		ix.add(item.Line, "", path)
		if err := ix.mapping(n, path, &info, 0, walk{}); err != nil {
			return nil, err
		}
		ix.entries = append(ix.entries, info)
	}
	// The rest of the top level: x- keys and whatever else, to name
	// unknown keys and check the mappings meant for merging.
	if err := ix.mapping(root, "", nil, 0, walk{}); err != nil {
		return nil, err
	}
	return ix, nil
}

func (ix *index) errf(line int, field, format string, args ...any) error {
	return yamlerr.Errorf(ix.file, line, field, format, args...)
}

func (ix *index) add(line int, key, path string) {
	ix.at[line] = append(ix.at[line], spot{key: key, path: path})
}

// spend charges one visited value, refusing the file once its aliases have
// expanded it past the limit.
func (ix *index) spend(n *yaml.Node, path string) error {
	ix.budget--
	if ix.budget < 0 {
		return ix.errf(n.Line, path, "aliases expand the file to more than %d values", ix.limit)
	}
	return nil
}

func sub(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk is the state of one walk from an entry (or the top level) down.
type walk struct {
	// seen: a mapping merged twice is walked once, so fan-out of aliases
	// does not cost more than the document's size.
	seen map[*yaml.Node]bool
	// open: the mappings being walked, to find one that merges itself.
	open map[*yaml.Node]bool
}

// mapping indexes m's keys below path, merged mappings included.
func (ix *index) mapping(m *yaml.Node, path string, info *entryInfo, depth int, w walk) error {
	if w.seen == nil {
		w = walk{seen: map[*yaml.Node]bool{}, open: map[*yaml.Node]bool{}}
	}
	if w.seen[m] {
		return nil
	}
	w.seen[m], w.open[m] = true, true
	defer delete(w.open, m)
	if depth > maxMergeDepth {
		return ix.errf(m.Line, sub(path, "<<"), "merge keys nested more than %d deep", maxMergeDepth)
	}
	where := path
	if where == "" {
		where = "top level"
	}
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, v := m.Content[i], m.Content[i+1]
		if err := ix.spend(kn, where); err != nil {
			return err
		}
		k := yamlerr.Resolve(kn)
		if k == nil || k.Kind != yaml.ScalarNode {
			return ix.errf(kn.Line, where, "want a field name as key, got %s", yamlerr.Kind(k))
		}
		if k.ShortTag() == "!!merge" {
			if err := ix.merge(v, path, info, depth, w); err != nil {
				return err
			}
			continue
		}
		key, field := k.Value, sub(path, k.Value)
		if line, dup := first[key]; dup {
			return ix.errf(kn.Line, field, "duplicate field (first at line %d)", line)
		}
		first[key] = kn.Line
		ix.add(kn.Line, key, field)
		if path == "" && key == "clusters" {
			continue // walked first
		}
		rv := yamlerr.Resolve(v)
		if rv == nil {
			return ix.errf(v.Line, field, "alias to nothing")
		}
		ix.add(v.Line, "", field)
		switch {
		case info != nil && path != "" && key == "probe" && !isProbe(path):
			if rv.Kind != yaml.MappingNode {
				return ix.errf(v.Line, field, "want a mapping (interval, timeout, write, key_prefix), got %s", yamlerr.Kind(rv))
			}
			if info.probeLine == 0 {
				info.probeLine = rv.Line
			}
			if err := ix.mapping(rv, field, info, depth, w); err != nil {
				return err
			}
		case rv.Kind == yaml.SequenceNode:
			for j, item := range rv.Content {
				p := fmt.Sprintf("%s[%d]", field, j)
				if err := ix.spend(item, p); err != nil {
					return err
				}
				ix.add(item.Line, "", p)
			}
		case rv.Kind == yaml.MappingNode && (info == nil || path == ""):
			// An x- key's anchor, checked (and named) where it is
			// written unless an entry merged it first.
			if err := ix.mapping(rv, field, nil, depth+1, w); err != nil {
				return err
			}
		}
	}
	return nil
}

func isProbe(path string) bool {
	return len(path) > 6 && path[len(path)-6:] == ".probe"
}

func (ix *index) merge(v *yaml.Node, path string, info *entryInfo, depth int, w walk) error {
	n := yamlerr.Resolve(v)
	if n != nil && w.open[n] {
		// "&a {<<: *a}" is legal YAML and yaml.v3 refuses to decode it
		// (without a line): say where the loop is.
		return ix.errf(v.Line, sub(path, "<<"), "merges a mapping that contains this merge: a loop")
	}
	switch {
	case n != nil && n.Kind == yaml.MappingNode:
		return ix.mapping(n, path, info, depth+1, w)
	case n != nil && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if err := ix.spend(item, sub(path, "<<")); err != nil {
				return err
			}
			in := yamlerr.Resolve(item)
			if in == nil || in.Kind != yaml.MappingNode {
				return ix.errf(item.Line, sub(path, "<<"), "want a mapping to merge, got %s", yamlerr.Kind(in))
			}
			if w.open[in] {
				return ix.errf(item.Line, sub(path, "<<"), "merges a mapping that contains this merge: a loop")
			}
			if err := ix.mapping(in, path, info, depth+1, w); err != nil {
				return err
			}
		}
		return nil
	}
	return ix.errf(v.Line, sub(path, "<<"), "want a mapping or a list of mappings to merge, got %s", yamlerr.Kind(n))
}

// keyPath is the path of key on line, as walked first.
func (ix *index) keyPath(line int, key string) string {
	for _, s := range ix.at[line] {
		if s.key == key {
			return s.path
		}
	}
	return key
}

// keyLine is the line of a top-level key, or fallback.
func (ix *index) keyLine(path, key string, fallback int) int {
	want := sub(path, key)
	for line, spots := range ix.at {
		for _, s := range spots {
			if s.key == key && s.path == want {
				return line
			}
		}
	}
	return fallback
}

// valuePath is the path of the first value on line, "top level" if none.
func (ix *index) valuePath(line int) string {
	for _, s := range ix.at[line] {
		if s.key == "" {
			return s.path
		}
	}
	return "top level"
}
