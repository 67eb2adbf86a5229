package tail

import (
	"bytes"
	"hash/fnv"
	"io"
	"os"
)

// fpMax is how many leading bytes make a file's fingerprint.
const fpMax = 1024

// fingerprint hashes the first n bytes of r; ok is false when r is shorter.
func fingerprint(r io.ReaderAt, n int) (uint64, bool) {
	h := fnv.New64a()
	if n == 0 {
		return h.Sum64(), true
	}
	b := make([]byte, n)
	m, err := r.ReadAt(b, 0)
	if m < n {
		_ = err
		return 0, false
	}
	h.Write(b)
	return h.Sum64(), true
}

func fingerprintPath(p string, n int) (uint64, bool) {
	f, err := os.Open(p)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return fingerprint(f, n)
}

// copyOf returns the known entry whose content c starts with (a copy made by
// copytruncate), preferring the truncated one.
func (t *Tailer) copyOf(w *watch, head []byte, truncated *entry) *entry {
	if truncated != nil && headMatches(head, truncated.fpLen, truncated.fp, truncated.head) {
		return truncated
	}
	for _, e := range w.entries {
		if !e.done && headMatches(head, e.fpLen, e.fp, e.head) {
			return e
		}
	}
	return nil
}

// ghostOf returns the index in w.ghosts of the truncated file that a file
// starting with head is a copy of, or -1. The caller drops the ghost once
// the copy is followed: until then a restart or the next poll still needs it.
func (t *Tailer) ghostOf(w *watch, head []byte) int {
	for i, g := range w.ghosts {
		if headMatches(head, g.FPLen, g.FP, g.head) {
			return i
		}
	}
	return -1
}

// updateFP grows the fingerprint up to fpMax bytes of what exists.
func (t *Tailer) updateFP(e *entry) {
	if e.f == nil || e.fpLen >= fpMax && len(e.head) == e.fpLen {
		return
	}
	n := int(min(int64(fpMax), max(e.size, e.readPos)))
	if n < e.fpLen || n == e.fpLen && len(e.head) == n {
		return
	}
	b := readHead(e.f, n)
	if len(b) < n {
		return
	}
	if e.fpLen > 0 && hashBytes(b[:e.fpLen]) != e.fp {
		return // rewritten under us: the next poll sees the mismatch
	}
	e.fpLen, e.fp, e.head = n, hashBytes(b), b
}

// readHead returns up to n leading bytes of r.
func readHead(r io.ReaderAt, n int) []byte {
	b := make([]byte, n)
	m, _ := r.ReadAt(b, 0)
	return b[:m]
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// headMatches reports whether head (a candidate's first bytes) starts like
// a file identified by (fpLen, fp, known): equal over fpLen bytes, or, when
// the candidate is shorter, a prefix of known (a copy still short).
func headMatches(head []byte, fpLen int, fp uint64, known []byte) bool {
	if fpLen == 0 {
		return false
	}
	if len(head) >= fpLen {
		return hashBytes(head[:fpLen]) == fp
	}
	return len(known) == fpLen && len(head) > 0 && bytes.HasPrefix(known, head)
}
