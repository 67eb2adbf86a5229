package tail

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// A td-agent position file (Fluentd in_tail's pos_file) has one line per
// file: its path, a TAB, the byte position as 16 hex digits, a TAB, and the
// inode as 16 hex digits. Entries of files no longer watched have position
// ffffffffffffffff. Fluentd rewrites positions in place, so a path may
// appear more than once; the last live line of a path (or inode) wins.

// tdUnwatched is the position td-agent writes for a file it stopped watching.
const tdUnwatched = 0xffffffffffffffff

// tdPosEntry is one live line of a td-agent position file.
type tdPosEntry struct {
	Path     string
	Pos, Ino uint64
}

// takeover is what a td-agent position file says, indexed for the first poll.
type takeover struct {
	byPath map[string]tdPosEntry
	byIno  map[uint64]tdPosEntry
}

// parseTdAgentPos returns the live entries of a td-agent position file and
// how many lines could not be read (empty lines are not counted).
func parseTdAgentPos(data []byte) (entries []tdPosEntry, bad int) {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		e, ok := parseTdAgentLine(line)
		if !ok {
			bad++
			continue
		}
		if e.Pos == tdUnwatched {
			continue
		}
		entries = append(entries, e)
	}
	return entries, bad
}

// parseTdAgentLine reads "path\tpos\tinode"; the path may hold TABs (the
// last two fields are taken from the end).
func parseTdAgentLine(line []byte) (tdPosEntry, bool) {
	i := bytes.LastIndexByte(line, '\t')
	if i <= 0 {
		return tdPosEntry{}, false
	}
	j := bytes.LastIndexByte(line[:i], '\t')
	if j <= 0 {
		return tdPosEntry{}, false
	}
	pos, err1 := strconv.ParseUint(string(line[j+1:i]), 16, 64)
	ino, err2 := strconv.ParseUint(string(bytes.TrimRight(line[i+1:], "\r")), 16, 64)
	if err1 != nil || err2 != nil {
		return tdPosEntry{}, false
	}
	return tdPosEntry{Path: string(line[:j]), Pos: pos, Ino: ino}, true
}

// looksLikeTdAgentPos reports whether data (not a forwarder position file)
// is a td-agent position file: every non-empty line reads as one.
func looksLikeTdAgentPos(data []byte) bool {
	entries, bad := parseTdAgentPos(data)
	return bad == 0 && (len(entries) > 0 || len(bytes.TrimSpace(data)) > 0)
}

// errPosFileIsTdAgent is returned by New when pos_file holds a td-agent
// position file: writing ours there would break a rollback to td-agent.
var errPosFileIsTdAgent = errors.New("pos_file holds a td-agent position file: set takeover_pos_file to it and give pos_file its own path (the forwarder never writes a td-agent position file)")

// loadTakeover reads the td-agent position file of cfg.TakeoverPosFile,
// read-only. A missing file is logged and ignored (nothing to take over).
func (t *Tailer) loadTakeover() error {
	f, err := os.Open(t.cfg.TakeoverPosFile) // O_RDONLY: never written
	if errors.Is(err, os.ErrNotExist) {
		t.log.Warn("takeover position file not found: starting as without it", "takeover_pos_file", t.cfg.TakeoverPosFile)
		return nil
	}
	if err != nil {
		return fmt.Errorf("open takeover position file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return fmt.Errorf("read takeover position file %s: %w", t.cfg.TakeoverPosFile, err)
	}
	entries, bad := parseTdAgentPos(buf.Bytes())
	if bad > 0 {
		t.log.Warn("takeover position file: lines not in td-agent's format ignored", "takeover_pos_file", t.cfg.TakeoverPosFile, "lines", bad)
	}
	tk := &takeover{byPath: map[string]tdPosEntry{}, byIno: map[uint64]tdPosEntry{}}
	for _, e := range entries {
		tk.byPath[e.Path] = e
		tk.byIno[e.Ino] = e
	}
	t.takeover = tk
	t.log.Info("taking over td-agent positions", "takeover_pos_file", t.cfg.TakeoverPosFile, "files", len(entries))
	return nil
}

// takeoverOffset returns where to start c, a file of watch key found at the
// first start, from the td-agent position file; ok is false when that file
// says nothing of it. A file whose inode td-agent recorded for its path (or
// for key, when c is a rotated copy of key) starts at td-agent's position
// if it is at least that long; a file at a recorded path under another
// inode, or shorter, starts at its head (counted, logged).
func (t *Tailer) takeoverOffset(key string, c candidate) (off int64, ok bool) {
	if t.takeover == nil {
		return 0, false
	}
	if p, found := t.takeover.byIno[c.ino]; found && (p.Path == c.path || p.Path == key) {
		if p.Pos <= uint64(c.size) {
			t.takeoverResumed.Add(1)
			t.log.Info("resuming at td-agent's position", "path", c.path, "inode", c.ino, "offset", p.Pos)
			return int64(p.Pos), true
		}
		t.takeoverMismatched.Add(1)
		t.log.Warn("file shorter than td-agent's position (truncated since): reading it from its head",
			"path", c.path, "inode", c.ino, "size", c.size, "td_agent_offset", p.Pos)
		return 0, true
	}
	if p, found := t.takeover.byPath[c.path]; found && c.current {
		t.takeoverMismatched.Add(1)
		t.log.Warn("file replaced since td-agent's position (another inode, rotated): reading it from its head",
			"path", c.path, "inode", c.ino, "td_agent_inode", p.Ino, "td_agent_offset", p.Pos)
		return 0, true
	}
	return 0, false
}
