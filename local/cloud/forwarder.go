package cloud

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// Forwarder is a running spillway-forwarder process tailing one file into
// the API front.
type Forwarder struct {
	proc *proc.Process
	// LogPath is the forwarder's own JSON log.
	LogPath string
}

// StartForwarder builds forwarder/cmd/spillway-forwarder (into
// <DataDir>/forwarder/) and starts it, in its own process group, tailing
// path from its head with the given parser type and tag, shipping to the
// API front with the cloud's API key. It is stopped by Stop, by Close of the
// cloud, or when ctx ends.
func (c *Cloud) StartForwarder(ctx context.Context, root, path, parserType, tag string) (*Forwarder, error) {
	dir := filepath.Join(c.DataDir, "forwarder")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("forwarder dir: %w", err)
	}
	logw, err := c.logFile("forwarder-build.log")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "spillway-forwarder")
	if err := goBuild(ctx, root, bin, "./forwarder/cmd/spillway-forwarder", runtimeGOOS(), runtimeGOARCH(), logw); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("forwarder source: %w", err)
	}
	logPath := filepath.Join(c.DataDir, "logs", "forwarder.log")
	cfg := fmt.Sprintf(`state_dir: %s
log: {file: %s, level: info}
sources:
  tail:
    - name: corpus
      path: [%s]
      tag: %s
      read_from_head: true
      parse: {type: %s}
buffer:
  flush_interval: 1s
output:
  primary: {url: %s, api_key_env: SPILLWAY_API_KEY}
  concurrency: 2
monitor: {addr: "127.0.0.1:0"}
shutdown_timeout: 10s
`, strconv.Quote(filepath.Join(dir, "state")), strconv.Quote(logPath), strconv.Quote(abs), strconv.Quote(tag), strconv.Quote(parserType), strconv.Quote(c.APIURL))
	cfgPath := filepath.Join(dir, "forwarder.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write forwarder config: %w", err)
	}
	out, err := c.logFile("forwarder.out")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SPILLWAY_API_KEY="+c.APIKey)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{})
	if err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	f := &Forwarder{proc: p, LogPath: logPath}
	c.closers = append(c.closers, f.Stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = f.Stop()
		case <-p.Done():
		}
	}()
	return f, nil
}

// Done is closed when the forwarder process has exited.
func (f *Forwarder) Done() <-chan struct{} { return f.proc.Done() }

// Stop sends SIGTERM to the forwarder's process group, waits up to 15s for
// it to ship what it buffered and exit, then kills the group. It is safe to
// call more than once.
func (f *Forwarder) Stop() error {
	f.proc.Stop(15 * time.Second)
	var ee *exec.ExitError
	if err := f.proc.Err(); err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("forwarder: %w", err)
	}
	return nil
}
