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
//
// Files by concern: config.go (Config), discovery.go (globs and rotated
// names), identity.go (fingerprints, copies), tracker.go (the known files of
// a path through rotation, truncation and release), reader.go (blocks to
// lines to records), multiline.go (events of several lines), batch.go
// (batches into the buffer, two in flight), posfile.go (the position file),
// takeover.go (a td-agent position file, read once at the first start so
// that each file starts where td-agent stopped; never written).
package tail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/forwarder/parser"
)

// Preparer is the disk buffer as the tailer uses it: Prepare checks and
// compresses a batch with the checkpoint record of the position it reaches
// (see package checkpoint), Commit (in order) writes and fsyncs both.
type Preparer interface {
	Prepare(tag string, records []byte, count int, checkpoint []byte) (intake.Prepared, error)
}

// Router is implemented by a Preparer that routes tags (forwarder/route):
// a file whose tag is not Routable is not followed.
type Router interface {
	Routable(tag string) bool
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
	// TakeoverResumed counts files started at a td-agent position
	// (takeover_pos_file); TakeoverMismatched, files that file named but
	// that changed since (another inode at its path, or shorter than its
	// position), read from their head.
	TakeoverResumed, TakeoverMismatched uint64
	// UnroutableFiles counts the files not followed because no route
	// accepts their tag.
	UnroutableFiles uint64
}

// FileStatus is one followed file.
type FileStatus struct {
	Path   string
	Inode  uint64
	Offset int64
	Size   int64
}

// Tailer follows the files of one Config.
type Tailer struct {
	cfg     Config
	dst     Preparer
	parse   parser.Parser
	ml      *regexp.Regexp
	log     *slog.Logger
	now     func() time.Time
	readAt  time.Time // when the block being parsed was read: the time of lines without their own
	started bool
	// scanned, when set, is called after a watch's files were listed and
	// before they are checked (tests: logrotate renaming in mid-poll).
	scanned func(key string)

	mu      sync.Mutex // guards the watches map and files
	files   []FileStatus
	watches map[string]*watch
	lastRef time.Time
	prior   map[string][]posEntry // from the position file and the buffer
	// takeover is the td-agent position file, read at a first start and
	// dropped after the first poll.
	takeover *takeover
	dirty    bool

	buf     []byte
	batch   []byte
	spares  [][]byte
	count   int
	pending []*inflight // oldest first, at most maxInflight
	cur     *watch      // the watch being read
	host    string      // for host_key

	nLines, nBytes, parseErrs, truncLines, truncations, lost, rotations, fullWaits, unroutable atomic.Uint64
	takeoverResumed, takeoverMismatched                                                        atomic.Uint64
}

// New builds a Tailer; cfg (start from DefaultConfig) must be valid.
// recovered is the checkpoint store's Recovered (may be nil); positions
// there that are ahead of the position file win.
func New(cfg Config, dst Preparer, recovered map[string][][]byte, logger *slog.Logger) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tail config: %w", err)
	}
	p, err := parser.New(cfg.Parse)
	if err != nil {
		return nil, fmt.Errorf("tail parser: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	t := &Tailer{cfg: cfg, dst: dst, parse: p, log: logger.With("source", "tail", "name", cfg.Name), now: time.Now,
		watches: map[string]*watch{}, buf: make([]byte, max(cfg.ReadBytes, cfg.MaxLineSize+1))}
	if cfg.MultilineStart != "" {
		t.ml = regexp.MustCompile(cfg.MultilineStart)
	}
	if cfg.HostKey != "" {
		if t.host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("tail host_key: %w", err)
		}
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
		Rotations: t.rotations.Load(), FullWaits: t.fullWaits.Load(), UnroutableFiles: t.unroutable.Load(),
		TakeoverResumed: t.takeoverResumed.Load(), TakeoverMismatched: t.takeoverMismatched.Load()}
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
		if !w.skip {
			ws = append(ws, w)
		}
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
	t.takeover = nil // a first start only
	if t.dirty {
		if err := t.savePositions(); err != nil {
			errs = append(errs, err)
		}
	}
	t.publishFiles()
	return errors.Join(errs...)
}
