package tail

import (
	"context"
	"errors"
	"os"
	"slices"
	"sort"
	"syscall"
	"time"
)

type entry struct {
	dev, ino uint64
	fpLen    int
	fp       uint64
	head     []byte // the fpLen bytes fp hashes (to recognise a partial copy)
	offset   int64  // everything before is in the buffer
	readPos  int64  // everything before was consumed (offset <= readPos)
	done     bool   // rotated away and read to its end
	f        *os.File
	path     string
	size     int64
	mtime    time.Time
	copied   int64 // size of its copytruncate copy, when one was matched
	seen     bool
	eofSince time.Time // first time a rotated entry was found drained
	missed   int       // consecutive scans a finished entry was not found in
	skipping bool      // inside an over-long line
	ml       []byte    // pending multiline event
	mlStart  int64
	mlLast   time.Time
}

type watch struct {
	key     string
	tag     string   // the events' tag (Config.Tag expanded from key)
	skip    bool     // no route accepts tag: the file is not followed
	fields  []string // path_key, host_key: key, value pairs added to every record
	entries []*entry
	// young holds the size of unknown rotated files at their first sight:
	// they are taken only once their size is stable (a copytruncate copy
	// may still be being written).
	young map[uint64]int64
	// ghosts are identities of files found truncated: a copy of one of
	// them (copytruncate) is resumed where the original was.
	ghosts []posEntry
}

func (t *Tailer) pollWatch(ctx context.Context, w *watch, first bool) error {
	t.cur = w
	now := t.now()
	cands := t.candidates(w.key)
	if t.scanned != nil {
		t.scanned(w.key)
	}
	for _, e := range w.entries {
		e.seen = false
	}
	var unknown []candidate
	var cur *entry
	var truncated *entry
	for _, c := range cands {
		// Find the entry of this inode whose fingerprint still matches; an
		// inode may be reused by a new file while the old entry drains the
		// deleted file through its handle.
		var e, mismatch *entry
		moved := false
		for _, x := range w.entries {
			if x.dev != c.dev || x.ino != c.ino {
				continue
			}
			if x.fpLen > 0 {
				fp, ok := fingerprintPath(c.path, x.fpLen)
				if !sameInode(c.path, c.ino) {
					// Renamed since the listing (logrotate at work): the
					// file still exists, under a name the next poll finds.
					// What c.path holds now is not c.
					x.seen, moved = true, true
					break
				}
				if !ok || fp != x.fp || c.size < x.readPos {
					mismatch = x
					continue
				}
			} else if c.size < x.readPos {
				mismatch = x
				continue
			}
			e = x
			break
		}
		if moved {
			continue
		}
		if e == nil && mismatch != nil && c.current && !mismatch.done && mismatch.path == c.path {
			truncated, e = mismatch, mismatch // same file at the same path, shorter or rewritten
		}
		if e == nil {
			unknown = append(unknown, c)
			continue
		}
		e.seen = true
		e.path, e.mtime = c.path, c.mtime
		if c.size > e.size && truncated != e {
			e.size = c.size // a truncated file keeps its old size until truncate
		}
		if c.current {
			cur = e
		}
	}
	// New files: the current one, rotated ones never seen, copies.
	fresh := len(w.entries) == 0 && len(t.prior[w.key]) == 0 && first
	sort.Slice(unknown, func(i, j int) bool { return unknown[i].mtime.Before(unknown[j].mtime) })
	for _, c := range unknown {
		if !c.current && !fresh {
			if w.young == nil {
				w.young = map[uint64]int64{}
			}
			// A file modified within rotate_wait (wall clock) may be a copy
			// still being written: take it once its size held for a poll.
			if sz, ok := w.young[c.ino]; time.Since(c.mtime) < t.cfg.RotateWait && (!ok || sz != c.size) {
				w.young[c.ino] = c.size
				continue
			}
			delete(w.young, c.ino)
			if c.size == 0 {
				continue // nothing to read; may be a copy about to be written
			}
			f, err := os.Open(c.path)
			if err != nil {
				continue
			}
			head := readHead(f, int(min(c.size, fpMax)))
			f.Close()
			// A copy made by copytruncate holds what was read from the
			// original: resume it at the original's position (at most its
			// size: the tailer may have read lines appended after the copy).
			if i := t.ghostOf(w, head); i >= 0 {
				e, err := t.register(w, c, min(w.ghosts[i].Offset, c.size))
				if err != nil {
					continue // replaced since the listing: the ghost waits for the next poll
				}
				w.ghosts = slices.Delete(w.ghosts, i, i+1)
				e.seen = true
				t.rotations.Add(1)
				continue
			}
			if src := t.copyOf(w, head, truncated); src != nil {
				if truncated == nil || src != truncated {
					continue // a copy of a file still being read: wait for its truncation
				}
				// copytruncate: read the copy from where the original was.
				e, err := t.register(w, c, min(truncated.offset, c.size))
				if err != nil {
					continue
				}
				e.seen = true
				t.rotations.Add(1)
				truncated.copied = c.size // what the copy holds is not lost
				continue
			}
		}
		var off int64
		done := false
		switch {
		case fresh && c.current && !t.cfg.ReadFromHead:
			off = c.size
		case fresh && !c.current:
			off, done = c.size, true // rotated before we ever ran
		}
		if fresh {
			if o, ok := t.takeoverOffset(w.key, c); ok {
				off, done = o, false // td-agent's position, or its head
			}
		}
		e, err := t.register(w, c, off)
		if err != nil {
			t.log.Warn("cannot open file", "path", c.path, "error", err)
			continue
		}
		e.seen = true
		if done {
			e.done = true
		}
		if e.done && e.f != nil {
			e.f.Close()
			e.f = nil
		}
		if c.current {
			cur = e
		} else if !done {
			t.rotations.Add(1)
		}
	}
	if truncated != nil && truncated.path != w.key {
		truncated = nil // matched again under a rotated name: it was a race, not a truncation
	}
	if fresh && len(w.entries) > 0 {
		// Record what existed before reading anything: a crash before the
		// first save must not make rotated files look pre-existing.
		if err := t.savePositions(); err != nil {
			return err
		}
	}
	if truncated != nil {
		t.truncate(ctx, w, truncated)
	}
	// Order: rotated files by age, the current file last.
	sort.SliceStable(w.entries, func(i, j int) bool {
		a, b := w.entries[i], w.entries[j]
		if (a == cur) != (b == cur) {
			return b == cur
		}
		return a.mtime.Before(b.mtime)
	})
	var errs []error
	for _, e := range append([]*entry(nil), w.entries...) {
		if e.done {
			t.forgetIfGone(w, e)
			continue
		}
		rotated := e != cur
		err := t.read(ctx, w, e)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if rotated {
			if e.eofSince.IsZero() {
				e.eofSince = now
			}
			if now.Sub(e.eofSince) >= t.cfg.RotateWait {
				if err := t.finish(ctx, w, e); err != nil {
					errs = append(errs, err)
					continue
				}
				t.forgetIfGone(w, e)
			}
		} else {
			e.eofSince = time.Time{}
		}
		if !rotated && e.ml != nil && now.Sub(e.mlLast) >= t.cfg.MultilineTimeout {
			t.readAt = now
			t.emitML(e)
			if err := t.storeBatch(ctx, w, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	t.prunePriors(w, cands)
	if len(w.entries) == 0 && !fileExists(w.key) {
		t.mu.Lock()
		delete(t.watches, w.key)
		t.mu.Unlock()
		t.dirty = true
	}
	return errors.Join(errs...)
}

// prunePriors forgets prior positions that no followed entry took over and
// that no file on disk can still match: none starts with the same bytes
// (the file itself, or its copytruncate copy) or is too short to tell.
func (t *Tailer) prunePriors(w *watch, cands []candidate) {
	prior := t.prior[w.key]
	if len(prior) == 0 {
		return
	}
	keep := prior[:0:0]
	heads := map[string][]byte{}
next:
	for _, p := range prior {
		if p.FPLen == 0 {
			continue
		}
		for _, e := range w.entries {
			if claimedBy(e, p) {
				continue next
			}
		}
		for _, c := range cands {
			if c.size < int64(p.FPLen) {
				keep = append(keep, p) // too short to tell: maybe a copy being written
				continue next
			}
			h, ok := heads[c.path]
			if !ok {
				if f, err := os.Open(c.path); err == nil {
					h = readHead(f, fpMax)
					f.Close()
				}
				heads[c.path] = h
			}
			if len(h) >= p.FPLen && hashBytes(h[:p.FPLen]) == p.FP {
				keep = append(keep, p)
				continue next
			}
		}
	}
	if len(keep) != len(prior) {
		t.mu.Lock()
		t.prior[w.key] = keep
		t.mu.Unlock()
		t.dirty = true
	}
}

// register opens c and adds it to w at offset.
func (t *Tailer) register(w *watch, c candidate, off int64) (*entry, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	// The path may have been replaced between stat and open.
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || uint64(st.Ino) != c.ino {
		f.Close()
		return nil, errors.New("file replaced while opening")
	}
	// Apply the furthest prior position (position file or buffer) whose
	// fingerprint matches this file.
	var best *posEntry
	for i := range t.prior[w.key] {
		p := &t.prior[w.key][i]
		if p.Dev != c.dev || p.Ino != c.ino || p.Offset > fi.Size() {
			continue
		}
		if fp, ok := fingerprint(f, p.FPLen); !ok || fp != p.FP {
			continue
		}
		if best == nil || p.Done && !best.Done || p.Done == best.Done && p.Offset > best.Offset {
			best = p
		}
	}
	if best == nil && !c.current {
		// A rotated file no saved position names by inode may be a
		// copytruncate copy made while the tailer was stopped: its content
		// starts like a file we had read, so resume it where that file was.
		for i := range t.prior[w.key] {
			p := &t.prior[w.key][i]
			if p.Done || p.FPLen < 64 {
				continue
			}
			if fp, ok := fingerprint(f, p.FPLen); !ok || fp != p.FP {
				continue
			}
			if best == nil || p.Offset > best.Offset {
				best = p
			}
		}
		if best != nil {
			off = min(max(off, best.Offset), fi.Size())
			t.log.Info("rotated file is a copy of a file read before: resuming it there", "path", c.path, "offset", off)
			e := &entry{dev: c.dev, ino: c.ino, f: f, path: c.path, size: fi.Size(), mtime: c.mtime, offset: off, readPos: off}
			t.updateFP(e)
			w.entries = append(w.entries, e)
			t.dirty = true
			return e, nil
		}
	}
	if best != nil {
		off = best.Offset
		e := &entry{dev: c.dev, ino: c.ino, f: f, path: c.path, size: fi.Size(), mtime: c.mtime, offset: off, readPos: off, done: best.Done}
		e.fpLen, e.fp = best.FPLen, best.FP
		t.updateFP(e)
		w.entries = append(w.entries, e)
		t.dirty = true
		t.log.Debug("following file from its saved position", "path", c.path, "inode", c.ino, "offset", off, "done", best.Done)
		return e, nil
	}
	t.log.Debug("following new file", "path", c.path, "inode", c.ino, "offset", off)
	e := &entry{dev: c.dev, ino: c.ino, f: f, path: c.path, size: fi.Size(), mtime: c.mtime, offset: off, readPos: off}
	t.updateFP(e)
	w.entries = append(w.entries, e)
	t.dirty = true
	return e, nil
}

// forgetIfGone forgets a finished entry once it has been missing from
// several scans in a row. A name can be missing from one scan, or be found
// holding another file, while logrotate renames files one by one; a file
// forgotten while it still exists would be found again as a rotated file
// never seen, and read again from its head.
func (t *Tailer) forgetIfGone(w *watch, e *entry) {
	if e.seen {
		e.missed = 0
	} else if e.missed++; e.missed >= 3 {
		t.forget(w, e)
	}
}

func (t *Tailer) forget(w *watch, e *entry) {
	if e.f != nil {
		e.f.Close()
		e.f = nil
	}
	for i, x := range w.entries {
		if x == e {
			w.entries = append(w.entries[:i], w.entries[i+1:]...)
			break
		}
	}
	t.dirty = true
}

// truncate handles a current file that became shorter (or was rewritten).
func (t *Tailer) truncate(ctx context.Context, w *watch, e *entry) {
	t.truncations.Add(1)
	if covered := max(e.offset, e.copied); e.size >= 0 && e.size > covered {
		lost := e.size - covered
		t.lost.Add(uint64(lost))
		t.log.Warn("file truncated before it was read to its end", "path", e.path, "lost_bytes", lost)
	} else {
		t.log.Info("file truncated", "path", e.path)
	}
	if e.size >= 0 && e.fpLen > 0 {
		w.ghosts = append(w.ghosts, posEntry{Dev: e.dev, Ino: e.ino, FPLen: e.fpLen, FP: e.fp, Offset: e.offset, Path: e.path, head: e.head})
		if len(w.ghosts) > 8 {
			w.ghosts = w.ghosts[1:]
		}
	}
	e.ml = nil
	e.offset, e.readPos, e.fpLen, e.fp, e.head, e.skipping, e.copied = 0, 0, 0, 0, nil, false, 0
	// Reopen: the path may now be a new file that reuses the inode.
	if f, err := os.Open(e.path); err == nil {
		if fi, err := f.Stat(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(st.Ino) == e.ino {
				if e.f != nil {
					e.f.Close()
				}
				e.f = f
				f = nil
			}
		}
		if f != nil {
			f.Close()
		}
	}
	if c, ok := statCandidate(e.path); ok {
		e.size = c.size
	}
	t.updateFP(e)
	t.dirty = true
}

// finish emits a drained rotated file's last partial line and marks it done.
func (t *Tailer) finish(ctx context.Context, w *watch, e *entry) error {
	t.readAt = t.now()
	if e.readPos < e.size { // a last line without newline
		n, _ := e.f.ReadAt(t.buf[:min(int64(len(t.buf)), e.size-e.readPos)], e.readPos)
		if n > 0 && !e.skipping {
			t.line(e, t.buf[:n], e.readPos, e.readPos+int64(n))
		}
		e.readPos += int64(n)
	}
	t.emitML(e)
	if err := t.storeBatch(ctx, w, e); err != nil {
		return err
	}
	e.done = true
	if e.f != nil {
		e.f.Close()
		e.f = nil
	}
	t.dirty = true
	return nil
}
