package tail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spillwayhq/spillway/shared/atomicfile"
)

// posEntry is one known file of a watched path.
type posEntry struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FPLen  int    `json:"fp_len"`
	FP     uint64 `json:"fp"`
	Offset int64  `json:"offset"`
	Done   bool   `json:"done,omitempty"`
	Path   string `json:"path,omitempty"`
	head   []byte // in memory only: the bytes FP hashes, when known
}

// posFile is the position file's content.
type posFile struct {
	Version int                   `json:"version"`
	Watches map[string][]posEntry `json:"watches"`
}

// loadPositions reads the position file and adds the buffer's recovered
// positions as further candidates: for a file, the furthest candidate whose
// fingerprint matches wins.
func (t *Tailer) loadPositions(recovered map[string][][]byte) error {
	t.prior = map[string][]posEntry{}
	data, err := os.ReadFile(t.cfg.PosFile)
	firstStart := false
	switch {
	case errors.Is(err, os.ErrNotExist):
		firstStart = true
	case err != nil:
		return fmt.Errorf("read position file: %w", err)
	default:
		var pf posFile
		if err := json.Unmarshal(data, &pf); err != nil && looksLikeTdAgentPos(data) {
			return fmt.Errorf("%s: %w", t.cfg.PosFile, errPosFileIsTdAgent)
		} else if err != nil {
			t.log.Error("position file unreadable, starting without it", "pos_file", t.cfg.PosFile, "error", err)
		} else {
			for k, v := range pf.Watches {
				t.prior[k] = v
			}
		}
	}
	prefix := t.cfg.Name + "\x00"
	for k, vals := range recovered {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(rest, "\x00")
		for _, v := range vals {
			var p posEntry
			if json.Unmarshal(v, &p) != nil {
				continue
			}
			t.mergePrior(key, p)
		}
	}
	for k := range t.prior {
		t.watches[k] = t.newWatch(k)
	}
	if firstStart && len(t.prior) == 0 && t.cfg.TakeoverPosFile != "" {
		return t.loadTakeover()
	}
	return nil
}

// mergePrior adds a candidate position. Candidates are not merged: an
// inode may have held several files, and only a fingerprint check against
// the file on disk tells which candidate is its own (see register).
func (t *Tailer) mergePrior(key string, p posEntry) {
	t.prior[key] = append(t.prior[key], p)
}

// claimedBy reports whether entry e is the file (or a copy of the file)
// that prior position p describes, at or past p.
func claimedBy(e *entry, p posEntry) bool {
	if e.dev == p.Dev && e.ino == p.Ino && e.fpLen == p.FPLen && e.fp == p.FP {
		return e.offset >= p.Offset || e.done
	}
	return p.FPLen > 0 && len(e.head) >= p.FPLen && hashBytes(e.head[:p.FPLen]) == p.FP && (e.offset >= p.Offset || e.done)
}

// unclaimed returns the furthest prior position of each identity that no
// followed entry has taken over; priors of empty files say nothing.
func unclaimed(entries []*entry, prior []posEntry) []posEntry {
	var out []posEntry
next:
	for _, p := range prior {
		if p.FPLen == 0 {
			continue
		}
		for _, e := range entries {
			if claimedBy(e, p) {
				continue next
			}
		}
		for i, q := range out {
			if q.Dev == p.Dev && q.Ino == p.Ino && q.FPLen == p.FPLen && q.FP == p.FP {
				if p.Offset > q.Offset || p.Done && !q.Done {
					out[i] = p
				}
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// savePositions writes the position file atomically (temp file, fsync,
// rename, fsync of the directory, mode 0600).
func (t *Tailer) savePositions() error {
	pf := posFile{Version: 1, Watches: map[string][]posEntry{}}
	t.mu.Lock()
	for k, w := range t.watches {
		list := []posEntry{}
		for _, e := range w.entries {
			list = append(list, posEntry{Dev: e.dev, Ino: e.ino, FPLen: e.fpLen, FP: e.fp, Offset: e.offset, Done: e.done, Path: e.path})
		}
		// Keep what we knew of files not followed yet (rotated files
		// still settling, copies not matched yet): a crash now must not
		// make them look unread.
		list = append(list, unclaimed(w.entries, t.prior[k])...)
		// Truncated files whose copy is not matched yet: after a restart
		// the copy is resumed at the position they had reached.
		list = append(list, w.ghosts...)
		pf.Watches[k] = list
	}
	t.mu.Unlock()
	data, err := json.MarshalIndent(pf, "", " ")
	if err != nil {
		return fmt.Errorf("encode positions: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(t.cfg.PosFile), 0o700); err != nil {
		return fmt.Errorf("position file directory: %w", err)
	}
	if err := atomicfile.WriteFile(t.cfg.PosFile, data); err != nil {
		return fmt.Errorf("write position file: %w", err)
	}
	t.dirty = false
	return nil
}
