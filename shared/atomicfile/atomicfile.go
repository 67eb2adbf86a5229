// Package atomicfile owns the atomic replacement of a state file: a reader,
// or a restart after a crash at any moment, finds either the old content or
// the new one, never a mix, and the new content survives a power loss once
// WriteFile returns.
//
// It uses only the standard library, so any part of the tree (the forwarder
// included) may import it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Mode is the permission of every file WriteFile writes: state files may
// hold positions, paths or keys and are read only by their owner.
const Mode os.FileMode = 0o600

// WriteFile replaces path with data: it writes a temp file in the same
// directory, with mode Mode, fsyncs it, renames it over path and fsyncs the
// directory. The directory must exist. On error path is unchanged and no
// temp file is left behind (unless the error is the final directory fsync,
// when path may already hold data).
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	if err := write(f, data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}

// write writes data to f, sets its mode and fsyncs it.
func write(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(Mode); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir fsyncs dir, so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
