package tail

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// refresh expands the globs and adds watches for new paths.
func (t *Tailer) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range t.cfg.Paths {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			if t.excluded(m) {
				continue
			}
			if fi, err := os.Stat(m); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if _, ok := t.watches[m]; !ok {
				t.watches[m] = &watch{key: m}
			}
		}
	}
}

func (t *Tailer) excluded(p string) bool {
	for _, x := range t.cfg.Exclude {
		if ok, _ := filepath.Match(x, p); ok {
			return true
		}
	}
	return false
}

func (t *Tailer) matchesMain(p string) bool {
	for _, g := range t.cfg.Paths {
		if ok, _ := filepath.Match(g, p); ok {
			return true
		}
	}
	return false
}

// candidate is a file that may belong to a watch.
type candidate struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    time.Time
	current  bool
}

func (t *Tailer) candidates(key string) []candidate {
	var out []candidate
	if c, ok := statCandidate(key); ok {
		c.current = true
		out = append(out, c)
	}
	seen := map[string]bool{key: true}
	for _, r := range t.cfg.Rotated {
		g := strings.ReplaceAll(r, "{path}", escapeGlob(key))
		ms, _ := filepath.Glob(g)
		for _, m := range ms {
			if seen[m] || compressed(m) || t.matchesMain(m) || t.excluded(m) {
				continue
			}
			seen[m] = true
			if c, ok := statCandidate(m); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func compressed(p string) bool {
	for _, ext := range []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

func statCandidate(p string) (candidate, bool) {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return candidate{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return candidate{}, false
	}
	return candidate{path: p, dev: uint64(st.Dev), ino: uint64(st.Ino), size: fi.Size(), mtime: fi.ModTime()}, true
}

// sameInode reports whether path still names inode ino.
func sameInode(path string, ino uint64) bool {
	c, ok := statCandidate(path)
	return ok && c.ino == ino
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
