// Package forward ships the disk buffer's sealed chunks to Fluentd
// forward-protocol servers (td-agent / Fluentd / Fluent Bit aggregators):
// one PackedForward (or CompressedPackedForward) message per chunk with
// EventTime entries, the chunk deleted only after the server's ack
// (require_ack_response), weighted load balancing over the active servers,
// standby servers while no active one is available, heartbeats and
// recover_wait, the shared_key handshake and TLS.
//
// A lost ack means a resend: a chunk whose ack did not come (timeout,
// connection lost, crash) is sent again, and forward servers deduplicate
// nothing, so the receiver then holds its records twice.
package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/shared/backoff"
)

// ErrNoServer is returned by Ship when no server is available: the chunk
// stays in the disk buffer (which, full, blocks the inputs).
var ErrNoServer = errors.New("no forward server available")

// Source is what the output needs from the disk buffer.
type Source interface {
	Next(ctx context.Context) (*buffer.Chunk, error)
	TryNext() *buffer.Chunk
	Ack(c *buffer.Chunk) error
	Release(c *buffer.Chunk)
}

var _ Source = (*buffer.Buffer)(nil)

// Stats are the output's counters.
type Stats struct {
	Chunks, Records, Bytes uint64 // delivered
	Failures               uint64 // failed attempts (a chunk released for a retry)
	NoServer               uint64 // attempts with no server available
	LastSuccess            time.Time
	OnStandby              bool // the last chunk went to a standby server
}

// Output ships chunks from a Source to forward servers.
type Output struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	tls     *tls.Config
	servers []*server
	zdec    *zstd.Decoder
	// scratch holds one *scratch per worker, kept across garbage
	// collections (a sync.Pool would drop the MiB-sized buffers at each).
	scratch chan *scratch

	chunks, records, bytes, failures, noServer atomic.Uint64
	lastSuccess                                atomic.Int64
	onStandby                                  atomic.Bool
	fails                                      atomic.Int64 // consecutive failures

	now    func() time.Time
	lookup func(ctx context.Context, host string) ([]string, error) // name resolution
}

type scratch struct {
	raw, entries, msg []byte
	gz                bytes.Buffer
	gzr               *gzip.Reader
}

// New builds an Output over src; cfg must be valid (WithDefaults fills its
// zero fields). TLS files are read here.
func New(cfg Config, src Source, logger *slog.Logger) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("forward output config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	o := &Output{cfg: cfg, src: src, log: logger, now: time.Now, lookup: net.DefaultResolver.LookupHost}
	var err error
	if o.tls, err = clientTLS(cfg.TLS); err != nil {
		return nil, fmt.Errorf("forward output tls: %w", err)
	}
	if o.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(buffer.MaxFrame)); err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	host := cfg.SelfHostname
	if host == "" {
		host, _ = os.Hostname()
	}
	for _, sc := range cfg.Servers {
		cr := credentials{sharedKey: cfg.SharedKey, selfHostname: host, username: cfg.Username, password: cfg.Password}
		if sc.SharedKey != "" {
			cr.sharedKey = sc.SharedKey
		}
		if sc.Username != "" || sc.Password != "" {
			cr.username, cr.password = sc.Username, sc.Password
		}
		o.servers = append(o.servers, &server{cfg: sc, cred: cr, up: true})
	}
	o.scratch = make(chan *scratch, cfg.Concurrency)
	return o, nil
}

// Run ships chunks with Concurrency workers, and runs the heartbeats,
// until ctx ends. A chunk being shipped when ctx ends stays on disk.
func (o *Output) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if o.cfg.HeartbeatType != HeartbeatNone {
		for _, s := range o.servers {
			wg.Add(1)
			go func() { defer wg.Done(); o.heartbeats(ctx, s) }()
		}
	}
	for i := 0; i < o.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := o.src.Next(ctx)
				if err != nil {
					return
				}
				if err := o.Ship(ctx, c); err != nil && ctx.Err() == nil {
					o.backoff(ctx)
				}
			}
		}()
	}
	wg.Wait()
}

// backoff waits after a failed attempt: min_backoff doubled per
// consecutive failure up to max_backoff, jittered.
func (o *Output) backoff(ctx context.Context) {
	_ = backoff.Sleep(ctx, backoff.Equal(o.cfg.MinBackoff, o.cfg.MaxBackoff, int(o.fails.Load())-1))
}

// ShipQueued ships what is queued now and returns when the queue is empty,
// an attempt failed (the chunk stays queued), or ctx ends.
func (o *Output) ShipQueued(ctx context.Context) error {
	return buffer.DrainQueued(ctx, o.cfg.Concurrency, o.src.TryNext, o.Ship)
}

// Ship makes one attempt to deliver c to one server: delivered (acked, or
// written when acks are off) -> Ack; otherwise the chunk is released for a
// later attempt, the server marked unavailable, and the error returned.
func (o *Output) Ship(ctx context.Context, c *buffer.Chunk) error {
	var sc *scratch
	select {
	case sc = <-o.scratch:
	default:
		sc = new(scratch)
	}
	defer func() {
		select {
		case o.scratch <- sc:
		default:
		}
	}()
	s := o.pick() // first: no chunk is read while every server is down
	if s == nil {
		o.src.Release(c)
		o.noServer.Add(1)
		o.fails.Add(1)
		return fmt.Errorf("ship chunk %s: %w", c.ID, ErrNoServer)
	}
	msg, err := o.message(c, sc)
	if err != nil {
		o.src.Release(c)
		o.failures.Add(1)
		o.fails.Add(1)
		o.log.Error("read chunk for forwarding", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", err)
		return err
	}
	if err := o.send(ctx, s, msg, ChunkOption(c.ID)); err != nil {
		o.src.Release(c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.failures.Add(1)
		o.fails.Add(1)
		s.failures.Add(1)
		o.markFailed(s, err)
		o.log.Warn("chunk not forwarded, will retry", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "server", s.cfg.label(), "error", err)
		return fmt.Errorf("ship chunk %s to %s: %w", c.ID, s.cfg.label(), err)
	}
	if err := o.src.Ack(c); err != nil {
		o.log.Error("ack forwarded chunk", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", err)
	}
	o.fails.Store(0)
	o.markOK(s)
	n := uint64(max(c.Records, 0))
	o.chunks.Add(1)
	o.records.Add(n)
	o.bytes.Add(uint64(msg.Len()))
	s.chunks.Add(1)
	s.records.Add(n)
	s.bytes.Add(uint64(msg.Len()))
	o.lastSuccess.Store(o.now().UnixNano())
	o.onStandby.Store(s.cfg.Standby)
	o.log.Debug("chunk forwarded", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", c.Records, "server", s.cfg.label())
	return nil
}

// errAckTimeout: no ack within ack_response_timeout.
var errAckTimeout = errors.New("no ack within ack_response_timeout")

// send writes msg to s and, with require_ack_response, waits for the ack
// of chunk.
func (o *Output) send(ctx context.Context, s *server, msg Parts, chunk string) error {
	c, rs, err := o.connect(ctx, s, true)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := c.SetWriteDeadline(o.now().Add(o.cfg.SendTimeout)); err != nil {
		return err
	}
	bufs := net.Buffers{msg.Head, msg.Entries, msg.Tail}
	if _, err := bufs.WriteTo(c); err != nil {
		return fmt.Errorf("write to %s: %w", s.cfg.label(), err)
	}
	if !o.cfg.ackRequired() {
		return nil
	}
	if err := c.SetReadDeadline(o.now().Add(o.cfg.AckResponseTimeout)); err != nil {
		return err
	}
	v, err := rs.Next()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			s.ackTimeouts.Add(1)
			return fmt.Errorf("%s: %w", s.cfg.label(), errAckTimeout)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s closed the connection before the ack (refused or failing)", s.cfg.label())
		}
		return err
	}
	got, err := ParseAck(v)
	if err != nil {
		return fmt.Errorf("%s: %w", s.cfg.label(), err)
	}
	if got != chunk {
		return fmt.Errorf("%s acked chunk %q, want %q", s.cfg.label(), got, chunk)
	}
	return nil
}

// message builds c's forward message in sc.
func (o *Output) message(c *buffer.Chunk, sc *scratch) (Parts, error) {
	var err error
	if sc.raw, err = o.readRaw(c, sc); err != nil {
		return Parts{}, err
	}
	var n int
	sc.entries, n, err = AppendEntries(sc.entries[:0], sc.raw, EntryOptions{TimeAsInteger: o.cfg.TimeAsInteger, KeepTimeKey: o.cfg.KeepTimeKey})
	if err != nil {
		// Stored records passed the buffer's checks; a bad one means
		// damage on disk. The entries before it are sent.
		o.log.Error("stored record is not a map; forwarding the records before it", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", err)
	}
	c.Records = n
	m := Message{Tag: c.Tag, Entries: sc.entries, Count: n, Gzip: o.cfg.Compress == CompressGzip}
	if o.cfg.ackRequired() {
		m.Chunk = ChunkOption(c.ID)
	}
	p, err := m.Frame(sc.msg, &sc.gz, gzip.BestSpeed)
	sc.msg = p.Head[:0] // Head starts the buffer Head and Tail share
	return p, err
}

// readRaw returns c's records, decompressed. A damaged frame (disk
// corruption) ends them early; the loss is logged.
func (o *Output) readRaw(c *buffer.Chunk, sc *scratch) ([]byte, error) {
	r, err := c.Read()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	codec := r.Codec()
	raw := sc.raw[:0]
	_, derr := r.Each(func(p []byte, n int) error {
		switch codec {
		case buffer.Zstd:
			d, err := o.zdec.DecodeAll(p, raw)
			if err != nil {
				return fmt.Errorf("%w: zstd frame: %v", buffer.ErrCorrupt, err)
			}
			raw = d
		case buffer.Gzip:
			if sc.gzr == nil {
				if sc.gzr, err = gzip.NewReader(bytes.NewReader(p)); err != nil {
					return fmt.Errorf("%w: gzip frame: %v", buffer.ErrCorrupt, err)
				}
			} else if err := sc.gzr.Reset(bytes.NewReader(p)); err != nil {
				return fmt.Errorf("%w: gzip frame: %v", buffer.ErrCorrupt, err)
			}
			buf := bytes.NewBuffer(raw)
			buf.Grow(n)
			if _, err := io.Copy(buf, sc.gzr); err != nil {
				return fmt.Errorf("%w: gzip frame: %v", buffer.ErrCorrupt, err)
			}
			raw = buf.Bytes()
		default: // version 1: raw msgpack
			raw = append(raw, p...)
		}
		return nil
	})
	if derr != nil {
		if !errors.Is(derr, buffer.ErrCorrupt) {
			return nil, fmt.Errorf("read chunk %s: %w", c.ID, derr)
		}
		o.log.Error("sealed chunk is damaged; forwarding its valid prefix", "tag", c.Tag, "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", derr)
	}
	return raw, nil
}

// Stats returns a snapshot of the counters.
func (o *Output) Stats() Stats {
	s := Stats{Chunks: o.chunks.Load(), Records: o.records.Load(), Bytes: o.bytes.Load(),
		Failures: o.failures.Load(), NoServer: o.noServer.Load(), OnStandby: o.onStandby.Load()}
	if ns := o.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	return s
}

// Servers returns each server's counters and state, in configuration
// order.
func (o *Output) Servers() []ServerStats {
	now := o.now()
	out := make([]ServerStats, 0, len(o.servers))
	for _, s := range o.servers {
		out = append(out, s.stats(o.available(s, now)))
	}
	return out
}
