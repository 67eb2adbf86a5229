package checkpoint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openStore opens a Store in dir, failing the test on error.
func openStore(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

// record returns the checkpoint record of (key, pos), failing on error.
func record(tb testing.TB, key, pos string) []byte {
	tb.Helper()
	rec, err := NewRecord(key, []byte(pos))
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

func TestSaveAndReopen(t *testing.T) {
	// The latest committed position of each key is what Save keeps; commit
	// order is the order of Stamp, not of Committed.
	tests := []struct {
		name   string
		steps  []string // "stamp <i>" or "commit <i>" of the records below
		recs   [][2]string
		want   map[string]string
		absent []string
	}{
		{
			name:  "in order",
			recs:  [][2]string{{"a", "10"}, {"a", "20"}, {"b", "7"}},
			steps: []string{"stamp 0", "commit 0", "stamp 1", "commit 1", "stamp 2", "commit 2"},
			want:  map[string]string{"a": "20", "b": "7"},
		},
		{
			name:  "committed out of order",
			recs:  [][2]string{{"a", "10"}, {"a", "20"}},
			steps: []string{"stamp 0", "stamp 1", "commit 1", "commit 0"},
			want:  map[string]string{"a": "20"},
		},
		{
			name:   "stamped, never committed",
			recs:   [][2]string{{"a", "10"}, {"c", "99"}},
			steps:  []string{"stamp 0", "commit 0", "stamp 1"},
			want:   map[string]string{"a": "10"},
			absent: []string{"c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			recs := make([][]byte, len(tt.recs))
			for i, r := range tt.recs {
				recs[i] = record(t, r[0], r[1])
			}
			for _, step := range tt.steps {
				op, i, _ := strings.Cut(step, " ")
				rec := recs[i[0]-'0']
				if op == "stamp" {
					s.Stamp(rec)
				} else {
					s.Committed(rec)
				}
			}
			if err := s.Save(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("positions file: %v, %v", fi, err)
			}
			got := openStore(t, dir).Recovered()
			for k, v := range tt.want {
				if len(got[k]) != 1 || string(got[k][0]) != v {
					t.Errorf("key %q recovered %q, want [%q]", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("key %q recovered %q, want none", k, got[k])
				}
			}
		})
	}
}

func TestRecoverKeepsEveryValueAndTheLatest(t *testing.T) {
	// Records found in chunks are all reported; the one with the highest
	// sequence number becomes the latest, and stamping continues after it.
	src := openStore(t, t.TempDir())
	var recs [][]byte
	for _, pos := range []string{"1", "2", "3"} {
		rec := record(t, "k", pos)
		src.Stamp(rec)
		recs = append(recs, rec)
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	for _, i := range []int{2, 0, 1} {
		s.Recover(recs[i])
	}
	s.Recover([]byte("short"))
	s.Recover(binary.LittleEndian.AppendUint16(make([]byte, 8), 50)) // key longer than the record
	if got := s.Recovered()["k"]; len(got) != 3 {
		t.Fatalf("recovered %q, want 3 values", got)
	}
	next := record(t, "other", "x")
	s.Stamp(next)
	if seq := binary.LittleEndian.Uint64(next); seq != 4 {
		t.Fatalf("next sequence = %d, want 4", seq)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got := openStore(t, dir).Recovered()["k"]; len(got) != 1 || string(got[0]) != "3" {
		t.Fatalf("saved %q, want [3]", got)
	}
}

func TestNewRecordRejectsLongKey(t *testing.T) {
	if _, err := NewRecord(strings.Repeat("k", MaxKey+1), nil); err == nil {
		t.Fatal("NewRecord accepted a key over MaxKey")
	}
}

// FuzzPositionsFile checks that any positions file content is recovered
// from without a panic or an error.
func FuzzPositionsFile(f *testing.F) {
	var seed []byte
	seed = binary.LittleEndian.AppendUint32(seed, uint32(header+3+2))
	seed = encode(seed, 7, "k\x00a", []byte("42"))
	f.Add(seed)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("open with a damaged positions file: %v", err)
		}
		_ = s.Recovered()
	})
}
