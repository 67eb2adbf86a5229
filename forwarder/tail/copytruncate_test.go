package tail

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// truncateFile truncates path to zero bytes, as copytruncate does.
func truncateFile(tb testing.TB, path string) {
	tb.Helper()
	if err := os.Truncate(path, 0); err != nil {
		tb.Fatal(err)
	}
}

// TestCopytruncateCopyRaces covers the orders in which a copytruncate copy
// can be observed: empty, partially written, shorter than what the tailer
// had read, and across a crash after the truncation was seen. Every line
// must arrive exactly once.
func TestCopytruncateCopyRaces(t *testing.T) {
	tests := []struct {
		name     string
		run      func(e *env)
		wantLost uint64
	}{
		{"copy seen empty before its content", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			if err := os.WriteFile(e.log+".1", nil, 0o644); err != nil {
				e.tb.Fatal(err)
			}
			e.poll()
			e.poll() // size held for a poll: an empty file must still not be taken at 0
			copyFile(e.tb, e.log, e.log+".1")
			truncateFile(e.tb, e.log)
			e.write(e.log, 30)
			e.pollPast()
			e.poll()
		}, 0},
		{"copy seen while shorter than the fingerprint", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			data, err := os.ReadFile(e.log)
			if err != nil {
				e.tb.Fatal(err)
			}
			if err := os.WriteFile(e.log+".1", data[:500], 0o644); err != nil {
				e.tb.Fatal(err)
			}
			e.poll()
			e.poll()
			copyFile(e.tb, e.log, e.log+".1")
			truncateFile(e.tb, e.log)
			e.write(e.log, 30)
			e.pollPast()
			e.poll()
		}, 0},
		{"tailer read past the copy before the truncation", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			copyFile(e.tb, e.log, e.log+".1")
			e.write(e.log, 20) // appended after the copy, read from the original
			e.poll()
			truncateFile(e.tb, e.log)
			e.write(e.log, 30)
			e.pollPast()
			e.poll()
		}, 0},
		{"crash after the truncation was seen, positions only in the position file", func(e *env) {
			e.write(e.log, 300)
			e.poll()
			e.collect() // chunks acked: the buffer keeps only its latest position per inode
			copyFile(e.tb, e.log, e.log+".1")
			truncateFile(e.tb, e.log)
			e.write(e.log, 20)
			e.poll() // sees the truncation; the copy is too young to take
			e.collect()
			e.crash()
			e.write(e.log, 10)
			e.start()
			e.pollPast()
			e.poll()
		}, 0},
		{"crash before the copy was taken, twice", func(e *env) {
			e.write(e.log, 300)
			e.poll()
			e.collect()
			copyFile(e.tb, e.log, e.log+".1")
			truncateFile(e.tb, e.log)
			e.write(e.log, 20)
			e.poll()
			e.collect()
			e.crash()
			e.start()
			e.poll() // the copy is still young: not taken before the next crash
			e.collect()
			e.crash()
			e.start()
			e.pollPast()
			e.poll()
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tt.run(e)
			e.exactlyOnce(0)
			if e.tl != nil {
				if s := e.tl.Stats(); s.LostBytes != tt.wantLost {
					t.Fatalf("lost bytes = %d, want %d", s.LostBytes, tt.wantLost)
				}
			}
		})
	}
}

// TestCopytruncateLinesBetweenCopyAndTruncate documents what copytruncate
// itself loses: lines appended after the copy and truncated before the
// tailer looked are in neither file, and the tailer never saw them, so they
// cannot be counted either; everything else arrives once.
func TestCopytruncateLinesBetweenCopyAndTruncate(t *testing.T) {
	e := newEnv(t, nil)
	e.write(e.log, 100)
	e.poll()
	copyFile(t, e.log, e.log+".1")
	e.write(e.log, 20) // lines 100..119: in neither file after the truncation
	truncateFile(t, e.log)
	lostFrom := e.written - 20
	e.write(e.log, 30)
	e.pollPast()
	e.poll()
	e.collect()
	for i := 0; i < e.written; i++ {
		want := 1
		if i >= lostFrom && i < lostFrom+20 {
			want = 0
		}
		if got := e.got[lineText(i)]; got != want {
			t.Fatalf("line %d arrived %d times, want %d", i, got, want)
		}
	}
	if s := e.tl.Stats(); s.Truncations != 1 || s.LostBytes != 0 {
		t.Fatalf("truncations = %d, lost bytes = %d; want 1 and 0 (never seen)", s.Truncations, s.LostBytes)
	}
}

// lineText is the message of line i as env.write writes it.
func lineText(i int) string {
	return fmt.Sprintf("line-%06d %s", i, strings.Repeat("x", i%50))
}

// TestRotationDuringScan runs logrotate between the tailer's listing of a
// path's files and its check of them, the window a running forwarder hits
// by chance (TestRotationsWhileRunning). A file seen under a name it has
// just left, or not seen at all, in one scan is still a known file: a
// copytruncate copy finished in that poll must not be read again from its
// head at the next one.
func TestRotationDuringScan(t *testing.T) {
	tests := []struct {
		name   string
		before func(e *env) // before the poll's scan
		during func(e *env) // between the scan and the check
	}{
		{"copy renamed after it was listed", nil, func(e *env) {
			mustRename(e.tb, e.log+".1", e.log+".2")
			mustRename(e.tb, e.log, e.log+".1")
			e.write(e.log, 40)
		}},
		{"copy missing from the listing while renamed", func(e *env) {
			mustRename(e.tb, e.log+".1", e.log+".moving")
		}, func(e *env) {
			mustRename(e.tb, e.log+".moving", e.log+".2")
			mustRename(e.tb, e.log, e.log+".1")
			e.write(e.log, 40)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.write(e.log, 100)
			e.poll()
			copyFile(t, e.log, e.log+".1")
			truncateFile(t, e.log)
			e.write(e.log, 30)
			e.pollPast() // the copy is taken at the original's position and drained
			e.now = e.now.Add(e.cfg.RotateWait)
			if tt.before != nil {
				tt.before(e)
			}
			e.tl.scanned = func(string) {
				e.tl.scanned = nil
				tt.during(e)
			}
			e.poll() // the copy is finished in this poll
			e.pollPast()
			e.exactlyOnce(0)
		})
	}
}
