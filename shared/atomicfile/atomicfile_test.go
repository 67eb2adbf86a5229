package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(tb testing.TB, path string) // what exists before the write
		data    string
		wantErr bool
	}{
		{"new file", nil, "one", false},
		{"replaces a longer file", func(tb testing.TB, path string) {
			writeFile(tb, path, "previous content, longer", 0o600)
		}, "two", false},
		{"replaces a world-readable file with mode 0600", func(tb testing.TB, path string) {
			writeFile(tb, path, "old", 0o644)
		}, "three", false},
		{"empty data", func(tb testing.TB, path string) {
			writeFile(tb, path, "old", 0o600)
		}, "", false},
		{"missing directory", func(tb testing.TB, path string) {
			if err := os.Remove(filepath.Dir(path)); err != nil {
				tb.Fatal(err)
			}
		}, "x", true},
		{"path is a directory", func(tb testing.TB, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				tb.Fatal(err)
			}
			writeFile(tb, filepath.Join(path, "keep"), "", 0o600) // a non-empty directory cannot be renamed over
		}, "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "pos.json")
			if tt.setup != nil {
				tt.setup(t, path)
			}
			err := WriteFile(path, []byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("WriteFile: %v, want error %v", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(dir); !tt.wantErr && len(entries) != 1 || tt.wantErr && len(entries) > 1 {
				t.Fatalf("directory holds %v: a temp file was left behind", entries)
			}
			if tt.wantErr {
				return
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.data {
				t.Fatalf("read back %q, %v; want %q", got, err, tt.data)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != Mode {
				t.Fatalf("mode: %v, %v; want %v", fi, err, Mode)
			}
		})
	}
}

func writeFile(tb testing.TB, path, data string, mode os.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		tb.Fatal(err)
	}
}
