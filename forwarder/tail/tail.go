// Package tail owns the forwarder's file source: it follows the files
// matching a set of globs through rotation (rename and copytruncate),
// truncation and restarts, turns lines into records with a parser, and
// appends them to the disk buffer together with the position they reach, so
// a position is never ahead of what the buffer holds.
//
// A file's identity is its device and inode plus a hash of its first bytes
// (up to 1 KiB), so inode reuse and in-place rewrites are told apart from
// growth. Each watched path keeps a list of known files: the current one and
// rotated ones (found with rotated-name globs such as access.log.1) that have
// not been read to their end. A rotated file the tailer has never seen (two
// rotations between polls, or while it was stopped) is read from its head,
// unless its first bytes are those of a file already read (a copytruncate
// copy: new inode, same content): it is then read from the position that
// file had reached. Positions of truncated files whose copy has not been
// taken yet stay in the position file, so this also holds across a crash.
package tail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/forwarder/sink"
	"github.com/spillwayhq/spillway/shared/names"
)

// fpMax is how many leading bytes make a file's fingerprint.
const fpMax = 1024

// Config configures one tail source.
type Config struct {
	// Name identifies the source in the position file and the buffer
	// (default: the tag). Unique per forwarder.
	Name string `yaml:"name"`
	// Paths are globs of the files to follow.
	Paths []string `yaml:"path"`
	// Exclude are globs of files never followed.
	Exclude []string `yaml:"exclude_path"`
	// Rotated are globs, with {path} standing for a followed file's path,
	// naming its rotated copies (default {path}.[0-9]* and {path}-[0-9]*).
	// Compressed copies (.gz, .bz2, .xz, .zst) are never read.
	Rotated []string `yaml:"rotated_path"`
	// Tag is td.<db>.<table>.
	Tag string `yaml:"tag"`
	// PosFile is the position file (written atomically, mode 0600).
	PosFile string `yaml:"pos_file"`
	// ReadFromHead reads files found at the first start from their
	// beginning instead of their end. Files appearing later are always read
	// from their beginning.
	ReadFromHead bool `yaml:"read_from_head"`
	// RefreshInterval is how often globs are re-expanded without an event.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// PollInterval is how often files are checked without an event.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RotateWait is how long a rotated (or deleted) file is still watched
	// for writes after reaching its end.
	RotateWait time.Duration `yaml:"rotate_wait"`
	// MaxLineSize truncates longer lines (counted and logged).
	MaxLineSize int `yaml:"max_line_size"`
	// ReadBytes is the read block size.
	ReadBytes int `yaml:"read_bytes"`
	// BatchBytes is how many record bytes are gathered per buffer Append.
	BatchBytes int `yaml:"batch_bytes"`
	// MultilineStart, when set, is a regexp matching the first line of an
	// event; following lines that do not match are joined to it with "\n".
	MultilineStart string `yaml:"multiline_start"`
	// MultilineFlush emits a pending multiline event after this much quiet.
	MultilineFlush time.Duration `yaml:"multiline_flush_interval"`
	// Parse configures the line parser.
	Parse parser.Config `yaml:"parse"`
}

// Defaults fills the zero fields of c.
func Defaults(c Config) Config {
	if c.Name == "" {
		c.Name = c.Tag
	}
	if len(c.Rotated) == 0 {
		c.Rotated = []string{"{path}.[0-9]*", "{path}-[0-9]*"}
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 5 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.RotateWait == 0 {
		c.RotateWait = 5 * time.Second
	}
	if c.MaxLineSize == 0 {
		c.MaxLineSize = 512 << 10
	}
	if c.ReadBytes == 0 {
		c.ReadBytes = 1 << 20
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 2 << 20
	}
	if c.MultilineFlush == 0 {
		c.MultilineFlush = 5 * time.Second
	}
	if c.Parse.Type == "" {
		c.Parse.Type = parser.TypeNone
	}
	return c
}

// Validate reports every problem of c, each prefixed with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("path: at least one glob is required"))
	}
	for i, p := range append(append([]string{}, c.Paths...), c.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("path[%d]: bad glob %q: %w", i, p, err))
		}
	}
	for i, r := range c.Rotated {
		if !strings.Contains(r, "{path}") {
			errs = append(errs, fmt.Errorf("rotated_path[%d]: %q lacks {path}", i, r))
		}
	}
	if _, _, err := names.ParseTag(c.Tag); err != nil {
		errs = append(errs, fmt.Errorf("tag: %w", err))
	}
	if c.PosFile == "" {
		errs = append(errs, errors.New("pos_file: must be set"))
	}
	if c.MaxLineSize < 16 {
		errs = append(errs, fmt.Errorf("max_line_size: %d is below 16", c.MaxLineSize))
	}
	if c.ReadBytes < 4096 {
		errs = append(errs, fmt.Errorf("read_bytes: %d is below 4096", c.ReadBytes))
	}
	if c.BatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("batch_bytes: %d is below 1024", c.BatchBytes))
	}
	for name, d := range map[string]time.Duration{"refresh_interval": c.RefreshInterval, "poll_interval": c.PollInterval,
		"rotate_wait": c.RotateWait, "multiline_flush_interval": c.MultilineFlush} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %v must be positive", name, d))
		}
	}
	if c.MultilineStart != "" {
		if _, err := regexp.Compile(c.MultilineStart); err != nil {
			errs = append(errs, fmt.Errorf("multiline_start: %w", err))
		}
	}
	if err := parser.Defaults(c.Parse).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("parse: %w", err))
	}
	return errors.Join(errs...)
}

// Sink is the disk buffer as the tailer uses it: Prepare checks and
// compresses a batch with the checkpoint record of the position it reaches
// (see package checkpoint), Commit (in order) writes and fsyncs both.
type Sink interface {
	Prepare(tag string, records []byte, count int, checkpoint []byte) (sink.Prepared, error)
}

// Stats are the tailer's counters.
type Stats struct {
	Lines          uint64 // lines read (multiline: events)
	Bytes          uint64 // bytes read
	ParseErrors    uint64 // lines kept unparsed
	TruncatedLines uint64 // lines cut at max_line_size
	Truncations    uint64 // files found truncated (copytruncate)
	LostBytes      uint64 // bytes a truncation made unreadable
	Rotations      uint64 // rotated files seen
	FullWaits      uint64 // appends refused by a full buffer (retried)
}

// FileStatus is one followed file.
type FileStatus struct {
	Path   string
	Inode  uint64
	Offset int64
	Size   int64
}

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
	entries []*entry
	// young holds the size of unknown rotated files at their first sight:
	// they are taken only once their size is stable (a copytruncate copy
	// may still be being written).
	young map[uint64]int64
	// ghosts are identities of files found truncated: a copy of one of
	// them (copytruncate) is resumed where the original was.
	ghosts []posEntry
}

// Tailer follows the files of one Config.
type Tailer struct {
	cfg     Config
	sink    Sink
	parse   parser.Parser
	ml      *regexp.Regexp
	log     *slog.Logger
	now     func() time.Time
	readAt  time.Time // when the block being parsed was read: the time of lines without their own
	started bool

	mu      sync.Mutex // guards the watches map and files
	files   []FileStatus
	watches map[string]*watch
	lastRef time.Time
	prior   map[string][]posEntry // from the position file and the buffer
	dirty   bool

	buf     []byte
	batch   []byte
	spares  [][]byte
	count   int
	pending []*inflight // oldest first, at most maxInflight

	nLines, nBytes, parseErrs, truncLines, truncations, lost, rotations, fullWaits atomic.Uint64
}

// New builds a Tailer. recovered is the checkpoint store's Recovered (may be
// nil); positions there that are ahead of the position file win.
func New(cfg Config, s Sink, recovered map[string][][]byte, logger *slog.Logger) (*Tailer, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tail config: %w", err)
	}
	p, err := parser.New(parser.Defaults(cfg.Parse))
	if err != nil {
		return nil, fmt.Errorf("tail parser: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	t := &Tailer{cfg: cfg, sink: s, parse: p, log: logger.With("source", "tail", "name", cfg.Name), now: time.Now,
		watches: map[string]*watch{}, buf: make([]byte, max(cfg.ReadBytes, cfg.MaxLineSize+1))}
	if cfg.MultilineStart != "" {
		t.ml = regexp.MustCompile(cfg.MultilineStart)
	}
	if err := t.loadPositions(recovered); err != nil {
		return nil, err
	}
	return t, nil
}

// SetClock replaces the clock (tests).
func (t *Tailer) SetClock(now func() time.Time) { t.now = now }

// Stats returns the counters.
func (t *Tailer) Stats() Stats {
	return Stats{Lines: t.nLines.Load(), Bytes: t.nBytes.Load(), ParseErrors: t.parseErrs.Load(),
		TruncatedLines: t.truncLines.Load(), Truncations: t.truncations.Load(), LostBytes: t.lost.Load(),
		Rotations: t.rotations.Load(), FullWaits: t.fullWaits.Load()}
}

// Files reports the followed files with their positions (lag = Size -
// Offset) as of the end of the last poll. Safe for concurrent use.
func (t *Tailer) Files() []FileStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]FileStatus(nil), t.files...)
}

// publishFiles snapshots the followed files for Files (poll goroutine).
func (t *Tailer) publishFiles() {
	var out []FileStatus
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.watches {
		for _, e := range w.entries {
			if !e.done {
				out = append(out, FileStatus{Path: e.path, Inode: e.ino, Offset: e.offset, Size: e.size})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	t.files = out
}

// Run polls until ctx ends, woken by file system events and by the poll
// interval, then saves the position file and closes the files.
func (t *Tailer) Run(ctx context.Context) error {
	defer t.Close()
	wake := make(chan struct{}, 1)
	if fw, err := fsnotify.NewWatcher(); err == nil {
		defer fw.Close()
		for _, d := range t.watchDirs() {
			if err := fw.Add(d); err != nil {
				t.log.Debug("cannot watch directory, polling it", "dir", d, "error", err)
			}
		}
		go func() {
			for {
				select {
				case _, ok := <-fw.Events:
					if !ok {
						return
					}
					select {
					case wake <- struct{}{}:
					default:
					}
				case _, ok := <-fw.Errors:
					if !ok {
						return
					}
				}
			}
		}()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		err := t.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			t.log.Error("tail poll", "error", err)
		}
		timer.Reset(t.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
	}
}

func (t *Tailer) watchDirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range t.cfg.Paths {
		d := filepath.Dir(p)
		if strings.ContainsAny(d, "*?[") || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// Close saves the position file and closes every file.
func (t *Tailer) Close() error {
	err := t.savePositions()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.watches {
		for _, e := range w.entries {
			if e.f != nil {
				e.f.Close()
				e.f = nil
			}
		}
	}
	return err
}

// Poll makes one pass: expand globs (when due), check every followed file,
// read what is new up to its end, append it to the buffer, and save
// positions. Tests drive the tailer with Poll and an injected clock.
func (t *Tailer) Poll(ctx context.Context) error {
	now := t.now()
	if !t.started || now.Sub(t.lastRef) >= t.cfg.RefreshInterval {
		t.refresh()
		t.lastRef = now
	}
	first := !t.started
	t.started = true
	var errs []error
	t.mu.Lock()
	ws := make([]*watch, 0, len(t.watches))
	for _, w := range t.watches {
		ws = append(ws, w)
	}
	t.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].key < ws[j].key })
	for _, w := range ws {
		if err := t.pollWatch(ctx, w, first); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if t.dirty {
		if err := t.savePositions(); err != nil {
			errs = append(errs, err)
		}
	}
	t.publishFiles()
	return errors.Join(errs...)
}

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

// sameInode reports whether path still names inode ino.
func sameInode(path string, ino uint64) bool {
	c, ok := statCandidate(path)
	return ok && c.ino == ino
}

func fingerprintPath(p string, n int) (uint64, bool) {
	f, err := os.Open(p)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return fingerprint(f, n)
}

func (t *Tailer) pollWatch(ctx context.Context, w *watch, first bool) error {
	now := t.now()
	cands := t.candidates(w.key)
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
		for _, x := range w.entries {
			if x.dev != c.dev || x.ino != c.ino {
				continue
			}
			if x.fpLen > 0 {
				fp, ok := fingerprintPath(c.path, x.fpLen)
				if !sameInode(c.path, c.ino) {
					break // renamed between stat and open: look again next poll
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
			if g := t.ghostOf(w, head); g != nil {
				e, err := t.register(w, c, min(g.Offset, c.size))
				if err != nil {
					continue
				}
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
			// A name can be missing from one scan while logrotate renames
			// files one by one: forget a finished file only once it has
			// been missing from several scans.
			if e.seen {
				e.missed = 0
			} else if e.missed++; e.missed >= 3 {
				t.forget(w, e)
			}
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
				if !e.seen {
					t.forget(w, e)
				}
			}
		} else {
			e.eofSince = time.Time{}
		}
		if !rotated && e.ml != nil && now.Sub(e.mlLast) >= t.cfg.MultilineFlush {
			t.readAt = now
			t.emitML(e)
			if err := t.flush(ctx, w, e); err != nil {
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

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

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

// ghostOf returns the identity of a truncated file that c is a copy of, and
// forgets it.
func (t *Tailer) ghostOf(w *watch, head []byte) *posEntry {
	for i, g := range w.ghosts {
		if headMatches(head, g.FPLen, g.FP, g.head) {
			w.ghosts = append(w.ghosts[:i], w.ghosts[i+1:]...)
			return &g
		}
	}
	return nil
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
	if err := t.flush(ctx, w, e); err != nil {
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

// read consumes e from readPos to its end in blocks. When a batch cannot be
// stored, reading rewinds to the end of what was stored, so the lines are
// read again at the next poll.
func (t *Tailer) read(ctx context.Context, w *watch, e *entry) error {
	err := t.readBlocks(ctx, w, e)
	if err != nil && ctx.Err() == nil {
		t.batch, t.count = t.batch[:0], 0
		e.readPos, e.ml, e.skipping = e.offset, nil, false
	}
	return err
}

func (t *Tailer) readBlocks(ctx context.Context, w *watch, e *entry) error {
	if e.f == nil {
		return nil
	}
	for ctx.Err() == nil {
		n, rerr := e.f.ReadAt(t.buf, e.readPos)
		if n == 0 {
			if rerr != nil && rerr != io.EOF {
				return fmt.Errorf("read %s: %w", e.path, rerr)
			}
			break
		}
		if e.readPos+int64(n) > e.size {
			e.size = e.readPos + int64(n)
		}
		t.readAt = t.now()
		consumed := t.lines(e, t.buf[:n])
		t.nBytes.Add(uint64(consumed))
		e.readPos += int64(consumed)
		if len(t.batch) >= t.cfg.BatchBytes {
			if err := t.flushAsync(ctx, w, e); err != nil {
				return err
			}
		}
		if n < len(t.buf) {
			break
		}
	}
	if err := t.flush(ctx, w, e); err != nil {
		return err
	}
	return ctx.Err()
}

// lines parses the complete lines of data and returns the bytes consumed.
func (t *Tailer) lines(e *entry, data []byte) int {
	pos := 0
	for pos < len(data) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			if len(data)-pos > t.cfg.MaxLineSize && !e.skipping {
				// keep the first MaxLineSize bytes, skip to the newline
				start := e.readPos + int64(pos)
				t.truncLines.Add(1)
				t.log.Warn("line over max_line_size truncated", "path", e.path, "offset", start, "max_line_size", t.cfg.MaxLineSize)
				t.line(e, data[pos:pos+t.cfg.MaxLineSize], start, start+int64(len(data)-pos))
				e.skipping = true
				return len(data)
			}
			if e.skipping {
				return len(data)
			}
			return pos
		}
		end := pos + i
		if e.skipping {
			e.skipping = false
		} else {
			l := data[pos:end]
			if len(l) > t.cfg.MaxLineSize {
				t.truncLines.Add(1)
				t.log.Warn("line over max_line_size truncated", "path", e.path, "offset", e.readPos+int64(pos), "max_line_size", t.cfg.MaxLineSize)
				l = l[:t.cfg.MaxLineSize]
			}
			t.line(e, l, e.readPos+int64(pos), e.readPos+int64(end)+1)
		}
		pos = end + 1
	}
	return pos
}

// line handles one complete line [start, end) of e.
func (t *Tailer) line(e *entry, l []byte, start, end int64) {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if t.ml == nil {
		t.record(l)
		return
	}
	_ = end
	if t.ml.Match(l) {
		t.emitML(e)
		e.ml = append(e.ml[:0], l...)
		e.mlStart, e.mlLast = start, t.now()
		return
	}
	if e.ml != nil {
		e.ml = append(append(e.ml, '\n'), l...)
		e.mlLast = t.now()
		return
	}
	t.record(l)
}

func (t *Tailer) emitML(e *entry) {
	if e.ml == nil {
		return
	}
	t.record(e.ml)
	e.ml = nil
}

func (t *Tailer) record(l []byte) {
	now := t.readAt
	var err error
	before := len(t.batch)
	t.batch, err = t.parse.AppendRecord(t.batch, l, now)
	if err != nil {
		t.batch = parser.AppendUnparsed(t.batch[:before], l, now)
		t.parseErrs.Add(1)
	}
	t.count++
	t.nLines.Add(1)
}

// commit is how far e's records are complete: a pending multiline event is
// re-read after a restart.
func (e *entry) commit() int64 {
	if e.ml != nil {
		return e.mlStart
	}
	return e.readPos
}

// inflight is a batch being stored by a helper goroutine while the tailer
// parses the next one: batches are compressed concurrently and committed in
// order, so parsing, compressing and fsyncing overlap.
type inflight struct {
	done   chan struct{} // closed when err is set
	err    error
	e      *entry
	commit int64
	batch  []byte
}

// maxInflight bounds the batches being stored at once.
const maxInflight = 2

// wait completes every in-flight batch, oldest first, and advances their
// entries; it returns the first error.
func (t *Tailer) wait() error {
	var first error
	for len(t.pending) > 0 {
		if err := t.waitOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// waitOldest completes the oldest in-flight batch and advances its entry.
func (t *Tailer) waitOldest() error {
	p := t.pending[0]
	t.pending = t.pending[1:]
	<-p.done
	t.spares = append(t.spares, p.batch[:0])
	if p.err != nil {
		return p.err
	}
	if p.commit > p.e.offset {
		p.e.offset = p.commit
	}
	t.updateFP(p.e)
	t.dirty = true
	return nil
}

// flushAsync hands the batch to a helper goroutine and returns at once
// (after waiting for the oldest one when maxInflight are in flight).
func (t *Tailer) flushAsync(ctx context.Context, w *watch, e *entry) error {
	for len(t.pending) >= maxInflight {
		if err := t.waitOldest(); err != nil {
			return errors.Join(err, t.wait())
		}
	}
	if t.count == 0 {
		return nil
	}
	var prev *inflight
	if n := len(t.pending); n > 0 {
		prev = t.pending[n-1]
	}
	p := &inflight{done: make(chan struct{}), e: e, commit: e.commit(), batch: t.batch}
	pos, key := t.position(w, e, p.commit)
	count := t.count
	t.batch, t.count = nil, 0
	if n := len(t.spares); n > 0 {
		t.batch, t.spares = t.spares[n-1], t.spares[:n-1]
	}
	t.pending = append(t.pending, p)
	go func() {
		defer close(p.done)
		p.err = t.store(ctx, prev, p.batch, count, key, pos, e.path)
	}()
	return nil
}

// store prepares a batch, waits for the batch before it (prev, may be nil)
// to be committed, and commits it.
func (t *Tailer) store(ctx context.Context, prev *inflight, batch []byte, count int, key string, pos []byte, path string) error {
	pb, err := t.prepare(batch, count, key, pos)
	if err != nil {
		return fmt.Errorf("append %d lines of %s: %w", count, path, err)
	}
	if prev != nil {
		<-prev.done
		if prev.err != nil {
			pb.Discard()
			return fmt.Errorf("append %d lines of %s: an earlier batch failed", count, path)
		}
	}
	return t.commitRetry(ctx, pb, count, path)
}

func (t *Tailer) position(w *watch, e *entry, c int64) ([]byte, string) {
	pos, _ := json.Marshal(posEntry{Dev: e.dev, Ino: e.ino, FPLen: e.fpLen, FP: e.fp, Offset: c})
	key := t.cfg.Name + "\x00" + w.key + "\x00" + strconv.FormatUint(e.dev, 10) + ":" + strconv.FormatUint(e.ino, 10)
	return pos, key
}

// prepare hands a batch and the checkpoint record of its position to the
// buffer for compression.
func (t *Tailer) prepare(batch []byte, count int, key string, pos []byte) (sink.Prepared, error) {
	rec, err := checkpoint.NewRecord(key, pos)
	if err != nil {
		return nil, err
	}
	return t.sink.Prepare(t.cfg.Tag, batch, count, rec)
}

// appendRetry stores a batch at once, waiting while the buffer is full.
func (t *Tailer) appendRetry(ctx context.Context, batch []byte, count int, key string, pos []byte, path string) error {
	pb, err := t.prepare(batch, count, key, pos)
	if err != nil {
		return fmt.Errorf("append %d lines of %s: %w", count, path, err)
	}
	return t.commitRetry(ctx, pb, count, path)
}

// commitRetry commits pb, waiting while the buffer is full.
func (t *Tailer) commitRetry(ctx context.Context, pb sink.Prepared, count int, path string) error {
	wait := 10 * time.Millisecond
	for {
		err := pb.Commit(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sink.ErrFull) {
			return fmt.Errorf("append %d lines of %s: %w", count, path, err)
		}
		t.fullWaits.Add(1)
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			pb.Discard()
			return ctx.Err()
		case <-tm.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// flush appends the batch with e's position (after any in-flight one) and
// advances e.offset.
func (t *Tailer) flush(ctx context.Context, w *watch, e *entry) error {
	if err := t.wait(); err != nil {
		return err
	}
	c := e.commit()
	if t.count == 0 {
		if c != e.offset {
			e.offset = c
			t.updateFP(e)
			t.dirty = true
		}
		return nil
	}
	pos, key := t.position(w, e, c)
	if err := t.appendRetry(ctx, t.batch, t.count, key, pos, e.path); err != nil {
		return err
	}
	t.batch, t.count = t.batch[:0], 0
	e.offset = c
	t.updateFP(e)
	t.dirty = true
	return nil
}
