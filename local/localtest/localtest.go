// Package localtest owns the one helper tests use to bring the local cloud
// up: Start starts it on free loopback ports with a temp data dir and closes
// it when the test ends.
package localtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/proc"
)

// Option adjusts the cloud.Options Start uses.
type Option func(*cloud.Options)

// WithOptions applies f to the options (faults, flush period, ...).
func WithOptions(f func(*cloud.Options)) Option { return Option(f) }

// Start brings the whole local pipeline up for t on free ports, with its
// data dir under t.TempDir(), and closes it in t.Cleanup. When the test
// failed, the tail of every component log is written to the test log first.
// It fails the test if the cloud cannot start.
func Start(t testing.TB, opts ...Option) *cloud.Cloud {
	t.Helper()
	o := cloud.DefaultOptions()
	o.FreePorts()
	o.DataDir = filepath.Join(t.TempDir(), "cloud")
	o.NamePrefix = "spw-test"
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := cloud.Start(ctx, o)
	if err != nil {
		cancel()
		logTails(t, filepath.Join(o.DataDir, "logs"))
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, filepath.Join(c.DataDir, "logs"))
		}
		if err := c.Close(); err != nil {
			t.Errorf("close local cloud: %v", err)
		}
		cancel()
	})
	return c
}

// logTails writes the last 3 KiB of each log file in dir to the test log.
func logTails(t testing.TB, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range files {
		b := proc.Tail(p, 3<<10)
		t.Logf("--- %s (last %d bytes)\n%s", filepath.Base(p), len(b), b)
	}
}
