// Package agent wires the forwarder together: sources (tail, http,
// forward) through the router into the disk buffer, the buffer into the output, the monitor
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
	"os"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/filter"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/forwarder/input/httpin"
	"github.com/spillwayhq/spillway/forwarder/output"
	"github.com/spillwayhq/spillway/forwarder/route"
	"github.com/spillwayhq/spillway/forwarder/tail"
)

var _ buffer.Checkpoint = (*checkpoint.Store)(nil)

// Agent is a configured forwarder.
type Agent struct {
	cfg config.Config
	log *slog.Logger
	buf *buffer.Buffer
	out *output.Output
	in  *route.Intake
	// filters is nil when none are configured.
	filters *filter.Set
	tails   []*tail.Tailer

	httpSrv *httpin.Server
	httpLn  net.Listener
	fwdSrv  *forwardin.Server
	fwdLn   net.Listener
	monSrv  *http.Server
	monLn   net.Listener
	started time.Time
}

// New opens the buffer (recovering what a previous run left), builds the
// sources and the output, and binds the listeners.
func New(cfg config.Config, logger *slog.Logger) (a *Agent, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	a = &Agent{cfg: cfg, log: logger, started: time.Now()}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	bc := cfg.Buffer
	bc.Logger = logger.With("component", "buffer")
	cp, err := checkpoint.Open(bc.Dir)
	if err != nil {
		return nil, err
	}
	bc.Checkpoint = cp
	if a.buf, err = buffer.Open(bc); err != nil {
		return nil, err
	}
	oc := cfg.Output
	oc.Logger = logger.With("component", "output")
	oc.Body = output.BodyConfig{GzipLevel: bc.GzipLevel, SingleMemberBody: bc.SingleMemberBody, Compression: bc.Compression}
	if a.out, err = output.New(oc, a.buf); err != nil {
		return nil, err
	}
	router, err := route.New(cfg.RouteConfig())
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	if a.in, err = route.NewIntake(router, map[string]route.Sink{route.DefaultOutput: a.buf}); err != nil {
		return nil, err
	}
	if len(cfg.Filters) > 0 {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("filters: ${hostname}: %w", err)
		}
		if a.filters, err = filter.New(cfg.Filters, host); err != nil {
			return nil, fmt.Errorf("filters: %w", err)
		}
		a.in.SetFilter(a.filters)
	}
	rec := cp.Recovered()
	for _, tc := range cfg.Sources.Tail {
		t, err := tail.New(tc, a.in, rec, logger)
		if err != nil {
			return nil, err
		}
		a.tails = append(a.tails, t)
	}
	if hc := cfg.Sources.HTTP; hc != nil {
		if a.httpSrv, err = httpin.New(*hc, a.in, logger); err != nil {
			return nil, err
		}
		if a.httpLn, err = net.Listen("tcp", hc.Addr); err != nil {
			return nil, fmt.Errorf("http source: %w", err)
		}
	}
	if fc := cfg.Sources.Forward; fc != nil {
		if a.fwdSrv, err = forwardin.New(*fc, a.in, logger); err != nil {
			return nil, err
		}
		if a.fwdLn, err = net.Listen("tcp", fc.Addr); err != nil {
			return nil, fmt.Errorf("forward source: %w", err)
		}
	}
	if !cfg.Monitor.Disabled {
		if a.monLn, err = net.Listen("tcp", cfg.Monitor.Addr); err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		a.monSrv = &http.Server{Handler: a.monitorHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return a, nil
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
	outWG.Add(2)
	go func() { defer outWG.Done(); a.buf.Run(outCtx) }()
	go func() { defer outWG.Done(); a.out.Run(outCtx) }()
	a.log.Info("forwarder started", "tail_sources", len(a.tails), "buffer", a.cfg.Buffer.Dir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.log.Error("source failed, shutting down", "error", runErr)
	}

	// Stop inputs first: nothing new enters the buffer.
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
