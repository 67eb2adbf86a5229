package tail

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spillwayhq/spillway/shared/names"
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
				t.watches[m] = t.newWatch(m)
			}
		}
	}
}

// newWatch makes the watch of path with its tag. A file whose tag no route
// accepts is not followed: a file cannot be refused to a client, so its
// lines stay in it, unread and with no position, and the file is logged
// and counted (Stats.UnroutableFiles) until a route or default table that
// accepts the tag is configured.
func (t *Tailer) newWatch(path string) *watch {
	w := &watch{key: path, tag: ExpandTag(t.cfg.Tag, path)}
	if t.cfg.PathKey != "" {
		w.fields = append(w.fields, t.cfg.PathKey, path)
	}
	if t.cfg.HostKey != "" {
		w.fields = append(w.fields, t.cfg.HostKey, t.host)
	}
	routable := func(tag string) bool { _, _, err := names.ParseTag(tag); return err == nil } // a bare buffer's rule
	if r, ok := t.dst.(Router); ok {
		routable = r.Routable
	}
	if !routable(w.tag) {
		w.skip = true
		t.unroutable.Add(1)
		t.log.Warn("file not followed: no route accepts its tag and no default_table is set", "path", path, "tag", w.tag)
	}
	return w
}

// ExpandTag replaces the "*" of a tail tag with path, its "/" turned into
// "." (runs of "." squeezed, a leading one dropped), as Fluentd's in_tail
// does; a tag without "*" is returned as is.
func ExpandTag(tag, path string) string {
	before, after, ok := strings.Cut(tag, "*")
	if !ok {
		return tag
	}
	p := strings.ReplaceAll(path, "/", ".")
	for strings.Contains(p, "..") {
		p = strings.ReplaceAll(p, "..", ".")
	}
	return before + strings.TrimPrefix(p, ".") + after
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
