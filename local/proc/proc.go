// Package proc owns supervising the child processes of the local cloud and
// its tests: a child runs in its own process group, is reaped by one
// goroutine, can be tied to this process's life (Pdeathsig), and is stopped
// as a group (SIGTERM, then SIGKILL after a grace period) so that nothing it
// forked outlives it. The few helpers such children need (free loopback
// ports, an HTTP health wait, the tail of a log) live here too.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// ErrExited is returned by WaitHTTP when the process exits before it
// answers.
var ErrExited = errors.New("process exited")

// Options configures Start. The zero value is usable.
type Options struct {
	// LogPath, when set, is created (truncated, mode 0600) and receives the
	// child's stdout and stderr; it is closed when the child exits.
	LogPath string
	// Pdeathsig, when not zero, is sent to the child if this process dies
	// without stopping it (a test binary killed by its timeout, say). It is
	// tied to the OS thread that started the child, so that thread stays
	// locked, blocked in Wait, for the child's whole life.
	Pdeathsig syscall.Signal
}

// Process is a child started by Start, leading its own process group.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the child has exited
	err  error         // Wait's result, set before done is closed

	stopOnce sync.Once
}

// Start starts cmd in a new process group (it sets cmd.SysProcAttr) and
// reaps it in the background; Done is closed when it exits.
func Start(cmd *exec.Cmd, opts Options) (*Process, error) {
	var logf *os.File
	if opts.LogPath != "" {
		f, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		logf = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: opts.Pdeathsig}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		if opts.Pdeathsig != 0 {
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		if logf != nil {
			_ = logf.Close()
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		if logf != nil {
			_ = logf.Close()
		}
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return p, nil
}

// PID is the child's process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is what waiting for the child returned (nil for exit status 0, an
// *exec.ExitError otherwise). It is only meaningful once Done is closed.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop sends SIGTERM to the child's process group, waits up to grace for
// the child to exit, then sends SIGKILL, waits for the child, and finally
// kills whatever is left in the group. It is safe to call more than once
// and from several goroutines; every call returns once the child is gone.
func (p *Process) Stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.PID()
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-p.done:
				t.Stop()
			case <-t.C:
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-p.done
			}
		}
		// Reap anything the child forked that is still in the group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
	<-p.done
}

// Kill sends SIGKILL to the child's process group, unless the child has
// already exited, and waits for the child to exit.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
}

// WaitHTTP polls url with GET until it answers 200 OK. It returns an error
// wrapping ErrExited when the child exits first, and one wrapping ctx's
// error when ctx ends first; bound ctx to set the deadline. The requests do
// not keep connections alive (a server's graceful shutdown could wait for
// them).
func (p *Process) WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("build health request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w before %s answered: %v", ErrExited, url, p.err)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// FreePorts returns n distinct TCP ports free on host right now. Nothing
// reserves them: a caller that loses one to another program should retry.
func FreePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail returns up to n bytes from the end of the file at path, or "" when
// it cannot be read.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b, _ := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return string(b)
}
