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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	buf *buffer.Buffer // the default output's
	out *output.Output
	// outbounds are every output with its buffer, the default one first.
	outbounds []*outbound
	in        *route.Intake
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

	serving     atomic.Bool  // inputs serving (for /healthz)
	queuedSince atomic.Int64 // unix ns since sealed chunks wait, 0 = none (watchQueue)
}

// outbound is one output with its own disk buffer.
type outbound struct {
	name string
	buf  *buffer.Buffer
	out  *output.Output
	cp   *checkpoint.Store
}

// New opens the buffer (recovering what a previous run left), builds the
// sources and the output, and binds the listeners.
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
	outs := append([]output.Named{{Name: route.DefaultOutput, Config: cfg.Output}}, cfg.Outputs...)
	buffers := map[string]route.Buffer{}
	for _, o := range outs {
		s, err := a.openOutbound(o)
		if err != nil {
			return err
		}
		a.outbounds = append(a.outbounds, s)
		buffers[o.Name] = s.buf
	}
	a.buf, a.out = a.outbounds[0].buf, a.outbounds[0].out
	router, err := route.New(cfg.RouteConfig())
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	if a.in, err = route.NewIntake(router, buffers); err != nil {
		return fmt.Errorf("routes: %w", err)
	}

	if len(cfg.Filters) > 0 {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("filters: ${hostname}: %w", err)
		}
		if a.filters, err = filter.New(cfg.Filters, host); err != nil {
			return fmt.Errorf("filters: %w", err)
		}
		a.in.SetFilter(a.filters)
	}
	rec := a.recovered(router)
	for i, tc := range cfg.Sources.Tail {
		t, err := tail.New(tc, a.in, rec, logger)
		if err != nil {
			return fmt.Errorf("sources.tail[%d]: %w", i, err)
		}
		a.tails = append(a.tails, t)
	}
	if hc := cfg.Sources.HTTP; hc != nil {
		if a.httpSrv, err = httpin.New(*hc, a.in, logger); err != nil {
			return fmt.Errorf("sources.http: %w", err)
		}
		if a.httpLn, err = listen("sources.http.addr", hc.Addr); err != nil {
			return err
		}
	}
	if fc := cfg.Sources.Forward; fc != nil {
		if a.fwdSrv, err = forwardin.New(*fc, a.in, logger); err != nil {
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
	for _, s := range a.outbounds {
		s.buf.Close()
	}
}

// openOutbound opens an output's buffer (recovering what a previous run left)
// and builds the output over it.
func (a *Agent) openOutbound(o output.Named) (_ *outbound, err error) {
	s := &outbound{name: o.Name}
	bc := a.cfg.Buffer
	bc.Dir = a.cfg.OutputBufferDir(o.Name)
	bc.AnyTag = o.Type == output.TypeForward // chunks keyed by the events' own tags
	log := a.log
	if o.Name != route.DefaultOutput {
		log = log.With("output", o.Name)
	}
	bc.Logger = log.With("component", "buffer")
	if s.cp, err = checkpoint.Open(bc.Dir); err != nil {
		return nil, fmt.Errorf("output %s: %w", o.Name, err)
	}
	bc.Checkpoint = s.cp
	if s.buf, err = buffer.Open(bc); err != nil {
		return nil, fmt.Errorf("output %s: %w", o.Name, err)
	}
	oc := o.Config
	oc.Logger = log.With("component", "output")
	// What each endpoint said about zstd, kept across restarts.
	stateDir := filepath.Join(a.cfg.StateDir, "output")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		s.buf.Close()
		return nil, fmt.Errorf("output %s: %w", o.Name, err)
	}
	oc.StateFile = filepath.Join(stateDir, o.Name+".json")
	oc.Body = output.BodyConfig{GzipLevel: bc.GzipLevel, SingleMemberBody: bc.SingleMemberBody, Compression: bc.Compression}
	if s.out, err = output.New(oc, s.buf); err != nil {
		s.buf.Close()
		return nil, fmt.Errorf("output %s: %w", o.Name, err)
	}
	return s, nil
}

// recovered merges the tail positions the outputs' buffers recovered.
// A tail file whose tag routes to one output resumes where that output's
// buffer says (exactly once). A file whose tag routes to several (copy)
// ignores them and resumes at its position file, which is written only
// after every output stored the lines: after a crash between the outputs'
// writes, the outputs that had the last batches get them again (at least
// once); none misses them.
func (a *Agent) recovered(r *route.Router) map[string][][]byte {
	tags := map[string]string{}
	for _, tc := range a.cfg.Sources.Tail {
		tags[tc.Name] = tc.Tag
	}
	out := map[string][][]byte{}
	for _, s := range a.outbounds {
		for key, vs := range s.cp.Recovered() {
			name, rest, _ := strings.Cut(key, "\x00")
			path, _, _ := strings.Cut(rest, "\x00")
			if tag, ok := tags[name]; ok {
				if d, err := r.Route(tail.ExpandTag(tag, path)); err == nil && len(d.Outputs) > 1 {
					continue
				}
			}
			out[key] = append(out[key], vs...)
		}
	}
	return out
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
	n := 0
	for _, s := range a.outbounds {
		n += s.buf.SealAll()
	}
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
	for _, s := range a.outbounds {
		outWG.Add(2)
		go func() { defer outWG.Done(); s.buf.Run(outCtx) }()
		go func() { defer outWG.Done(); s.out.Run(outCtx) }()
	}
	outWG.Add(1)
	go func() { defer outWG.Done(); a.watchQueue(outCtx) }()
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
	for _, s := range a.outbounds {
		s.buf.SealAll()
	}
	stopOutput()
	outWG.Wait()
	var wg sync.WaitGroup
	for _, s := range a.outbounds {
		wg.Add(1)
		go func() { defer wg.Done(); a.drain(sctx, s) }()
	}
	wg.Wait()
	left := 0
	for _, s := range a.outbounds {
		sealed, _ := s.buf.Pending()
		left += sealed
	}
	a.log.Info("forwarder stopped", "chunks_left_on_disk", left)
	if a.monSrv != nil {
		_ = a.monSrv.Close()
	}
	errs := []error{runErr}
	for _, s := range a.outbounds {
		errs = append(errs, s.buf.Close())
	}
	return errors.Join(errs...)
}

// drain ships s's sealed chunks until none is left or ctx ends.
func (a *Agent) drain(ctx context.Context, s *outbound) {
	for ctx.Err() == nil {
		if sealed, _ := s.buf.Pending(); sealed == 0 {
			return
		}
		if err := s.out.ShipQueued(ctx); err != nil && ctx.Err() == nil {
			t := time.NewTimer(a.cfg.Output.MinBackoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}
