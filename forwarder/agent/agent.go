// Package agent wires the forwarder together: sources (tail, http,
// forward) into the disk buffer, the buffer into the output, the monitor
// endpoint over all of them, and the shutdown order (stop inputs, seal,
// ship within a deadline, keep the rest on disk).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/forwarder/input/httpin"
	"github.com/spillwayhq/spillway/forwarder/output"
	"github.com/spillwayhq/spillway/forwarder/tail"
)

var _ buffer.Checkpoint = (*checkpoint.Store)(nil)

// Agent is a configured forwarder.
type Agent struct {
	cfg   config.Config
	log   *slog.Logger
	buf   *buffer.Buffer
	out   *output.Output
	tails []*tail.Tailer

	httpSrv *httpin.Server
	httpLn  net.Listener
	fwdSrv  *forwardin.Server
	fwdLn   net.Listener
	monSrv  *http.Server
	monLn   net.Listener
	started time.Time

	serving     atomic.Bool  // inputs serving (for /healthz)
	queuedSince atomic.Int64 // unix ns since sealed chunks wait, 0 = none (watchQueue)
}

// New opens the buffer (recovering what a previous run left), builds the
// sources and the output, and binds the listeners. On error everything it
// opened is closed again; errors name the configuration key at fault.
func New(cfg config.Config, logger *slog.Logger) (*Agent, error) {
	if logger == nil {
		logger = slog.Default()
	}
	a := &Agent{cfg: cfg, log: logger, started: time.Now()}
	if err := a.open(); err != nil {
		a.closeAll()
		return nil, err
	}
	return a, nil
}

// open does New's work on a.
func (a *Agent) open() (err error) {
	cfg, logger := a.cfg, a.log
	bc := cfg.Buffer
	bc.Logger = logger.With("component", "buffer")
	cp, err := checkpoint.Open(bc.Dir)
	if err != nil {
		return fmt.Errorf("buffer.dir: %w", err)
	}
	bc.Checkpoint = cp
	if a.buf, err = buffer.Open(bc); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	oc := cfg.Output
	oc.Logger = logger.With("component", "output")
	oc.Body = output.BodyConfig{GzipLevel: bc.GzipLevel, SingleMemberBody: bc.SingleMemberBody, Compression: bc.Compression}
	if a.out, err = output.New(oc, a.buf); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	rec := cp.Recovered()
	for i, tc := range cfg.Sources.Tail {
		t, err := tail.New(tc, a.buf, rec, logger)
		if err != nil {
			return fmt.Errorf("sources.tail[%d]: %w", i, err)
		}
		a.tails = append(a.tails, t)
	}
	if hc := cfg.Sources.HTTP; hc != nil {
		if a.httpSrv, err = httpin.New(*hc, a.buf, logger); err != nil {
			return fmt.Errorf("sources.http: %w", err)
		}
		if a.httpLn, err = listen("sources.http.addr", hc.Addr); err != nil {
			return err
		}
	}
	if fc := cfg.Sources.Forward; fc != nil {
		if a.fwdSrv, err = forwardin.New(*fc, a.buf, logger); err != nil {
			return fmt.Errorf("sources.forward: %w", err)
		}
		if a.fwdLn, err = listen("sources.forward.addr", fc.Addr); err != nil {
			return err
		}
	}
	if !cfg.Monitor.Disabled {
		if a.monLn, err = listen("monitor.addr", cfg.Monitor.Addr); err != nil {
			return err
		}
		a.monSrv = &http.Server{Handler: a.monitorHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return nil
}

// listen binds addr; an address in use is said so, with the usual cause.
func listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s: %s: address already in use (td-agent or another forwarder still running?)", key, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return ln, nil
}

func (a *Agent) closeAll() {
	for _, ln := range []net.Listener{a.httpLn, a.fwdLn, a.monLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if a.buf != nil {
		a.buf.Close()
	}
}

// Addrs returns the bound addresses of the http source, the forward source
// and the monitor ("" when not enabled).
func (a *Agent) Addrs() (httpAddr, forwardAddr, monitorAddr string) {
	s := func(ln net.Listener) string {
		if ln == nil {
			return ""
		}
		return ln.Addr().String()
	}
	return s(a.httpLn), s(a.fwdLn), s(a.monLn)
}

// SealNow seals every open chunk so the output ships it (SIGUSR1).
func (a *Agent) SealNow() int {
	n := a.buf.SealAll()
	a.log.Info("seal requested", "sealed_chunks", n)
	return n
}

// Run runs until ctx ends, then stops the inputs, seals the open chunks and
// ships within the shutdown timeout; what is left stays on disk.
func (a *Agent) Run(ctx context.Context) error {
	inCtx, stopInputs := context.WithCancel(context.Background())
	defer stopInputs()
	outCtx, stopOutput := context.WithCancel(context.Background())
	defer stopOutput()

	var inWG, outWG sync.WaitGroup
	errc := make(chan error, 4)
	for _, t := range a.tails {
		inWG.Add(1)
		go func() { defer inWG.Done(); _ = t.Run(inCtx) }()
	}
	if a.httpSrv != nil {
		go func() {
			if err := a.httpSrv.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http source: %w", err)
			}
		}()
	}
	if a.fwdSrv != nil {
		go func() {
			if err := a.fwdSrv.Serve(a.fwdLn); err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("forward source: %w", err)
			}
		}()
	}
	if a.monSrv != nil {
		go func() { _ = a.monSrv.Serve(a.monLn) }()
	}
	outWG.Add(3)
	go func() { defer outWG.Done(); a.watchQueue(outCtx) }()
	go func() { defer outWG.Done(); a.buf.Run(outCtx) }()
	go func() { defer outWG.Done(); a.out.Run(outCtx) }()
	a.serving.Store(true)
	a.log.Info("forwarder started", "tail_sources", len(a.tails), "buffer", a.cfg.Buffer.Dir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.log.Error("source failed, shutting down", "error", runErr)
	}

	// Stop inputs first: nothing new enters the buffer.
	a.serving.Store(false)
	deadline := time.Now().Add(a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if a.httpSrv != nil {
		_ = a.httpSrv.Shutdown(sctx)
	}
	if a.fwdSrv != nil {
		_ = a.fwdSrv.Shutdown(sctx)
	}
	stopInputs()
	inWG.Wait()
	// Ship what is left within the deadline.
	a.buf.SealAll()
	stopOutput()
	outWG.Wait()
	for sctx.Err() == nil {
		if sealed, _ := a.buf.Pending(); sealed == 0 {
			break
		}
		if err := a.out.ShipQueued(sctx); err != nil && sctx.Err() == nil {
			t := time.NewTimer(a.cfg.Output.MinBackoff)
			select {
			case <-sctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	sealed, _ := a.buf.Pending()
	a.log.Info("forwarder stopped", "chunks_left_on_disk", sealed)
	if a.monSrv != nil {
		_ = a.monSrv.Close()
	}
	return errors.Join(runErr, a.buf.Close())
}
