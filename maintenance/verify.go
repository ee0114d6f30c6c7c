package maintenance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// SnapshotInfo is what verifying a snapshot file learned about it.
type SnapshotInfo struct {
	// Size is the file's size: the bbolt database plus etcd's 32-byte
	// sha256 trailer.
	Size int64
	// Revision is the store revision a member restored from the file
	// starts at, computed as etcd's own restore does.
	Revision int64
	// CompactRevision is the last compaction recorded in the file.
	CompactRevision int64
}

// ErrBadSnapshot is wrapped by every verification failure.
var ErrBadSnapshot = errors.New("not a usable etcd snapshot")

// VerifySnapshot checks that path is a complete snapshot as etcd streams it:
// the sha256 etcd appends matches the bytes before it, and those bytes open
// as a consistent bbolt database holding etcd's key bucket. It is what
// `etcdutl snapshot restore` will insist on, checked before the file
// replaces an older good one.
func VerifySnapshot(path string) (*SnapshotInfo, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", path, ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verifying snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("verifying snapshot: %w", err)
	}
	// An empty store is at revision 1, as etcd's restore starts it.
	info := &SnapshotInfo{Size: fi.Size(), Revision: 1}
	// etcd's database is whole pages (multiples of 512 bytes on every
	// platform) followed by the digest; etcdutl uses the same test to know
	// whether a digest is there.
	if info.Size <= sha256.Size || (info.Size-sha256.Size)%512 != 0 {
		return nil, bad("%d bytes is not a database plus a 32-byte sha256 (truncated, or not from a snapshot stream)", info.Size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, info.Size-sha256.Size); err != nil {
		return nil, fmt.Errorf("verifying snapshot %s: reading: %w", path, err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return nil, fmt.Errorf("verifying snapshot %s: reading the checksum: %w", path, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, bad("sha256 of the database does not match the one etcd appended (damaged or truncated)")
	}

	// Read-only, with a lock timeout: an etcd member holding the file (a
	// data directory given by mistake) must not hang the check.
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return nil, bad("opening as a bbolt database: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("bbolt consistency check: %w", cerr)
		}
		kb := tx.Bucket(schema.Key.Name())
		if kb == nil {
			return fmt.Errorf("no %q bucket: not an etcd v3 database", schema.Key.Name())
		}
		if k, _ := kb.Cursor().Last(); k != nil {
			rev, err := keyRevision(k)
			if err != nil {
				return fmt.Errorf("last key revision %x: %w", k, err)
			}
			info.Revision = max(info.Revision, rev)
		}
		if mb := tx.Bucket(schema.Meta.Name()); mb != nil {
			for _, name := range [][]byte{schema.FinishedCompactKeyName, schema.ScheduledCompactKeyName} {
				if v := mb.Get(name); v != nil {
					rev, err := keyRevision(v)
					if err != nil {
						return fmt.Errorf("meta %s %x: %w", name, v, err)
					}
					// etcd starts a restored member at the compaction when
					// it removed every key written after the last one kept.
					info.Revision = max(info.Revision, rev)
					if bytes.Equal(name, schema.FinishedCompactKeyName) {
						info.CompactRevision = rev
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, bad("%v", err)
	}
	return info, nil
}

// keyRevision decodes a revision as etcd stores it, recovering from the
// panic mvcc raises on malformed bytes.
func keyRevision(b []byte) (rev int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed revision: %v", r)
		}
	}()
	return mvcc.BytesToRev(b).Main, nil
}
