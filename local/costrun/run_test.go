package costrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusStats: lines and bytes as read, and each line (with its
// newline) rounded up to 5 KB as Firehose bills one record per line.
func TestCorpusStats(t *testing.T) {
	tests := []struct {
		name                 string
		data                 string
		lines, raw, firehose int64
	}{
		{"empty", "", 0, 0, 0},
		{"two short lines", "abc\nde\n", 2, 7, 2 * 5120},
		{"no final newline", "abc\nde", 2, 6, 2 * 5120},
		{"a line of 5,120 bytes with its newline", strings.Repeat("x", 5119) + "\n", 1, 5120, 5120},
		{"a line of 5,121 bytes", strings.Repeat("x", 5120) + "\n", 1, 5121, 10240},
		{"a line longer than the read buffer", strings.Repeat("y", 3<<20) + "\nz\n", 2, 3<<20 + 3, (3<<20+1+5119)/5120*5120 + 5120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "corpus.log")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			var m Measurement
			if err := corpusStats(path, &m); err != nil {
				t.Fatal(err)
			}
			if m.Lines != tc.lines || m.RawBytes != tc.raw || m.FirehoseRecordBytes != tc.firehose {
				t.Errorf("lines %d, bytes %d, Firehose bytes %d; want %d, %d, %d", m.Lines, m.RawBytes, m.FirehoseRecordBytes, tc.lines, tc.raw, tc.firehose)
			}
		})
	}
}
