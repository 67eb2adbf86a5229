// Package buffer owns the forwarder's disk buffer: per-tag chunk files of
// checksummed, compressed record frames (format.go), sealed by size or age,
// each with the unique id that becomes the TD import unique_id, recovered
// after a crash (torn tails cut), bounded in total size, and handed to the
// output one sealed chunk at a time until it is acknowledged (deleted) or
// parked (moved to failed/).
//
// It stores chunks and nothing else: a source position rides in the frame
// of its records as an opaque checkpoint record that a Checkpoint keeps
// (package checkpoint), and the output builds import bodies from a chunk's
// frames (Chunk.Read).
package buffer

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// Overflow policies.
const (
	OverflowBlock      = "block"       // Append returns intake.ErrFull
	OverflowDropOldest = "drop_oldest" // the oldest sealed chunks are deleted (counted)
)

const (
	openExt   = ".open"
	sealedExt = ".chunk"
	failedDir = "failed"
)

// ErrClosed is returned by Append and Next after Close.
var ErrClosed = errors.New("buffer closed")

// Config configures a Buffer.
type Config struct {
	Dir          string        `yaml:"path"`           // directory of chunk files (created 0700)
	ChunkLimit   int64         `yaml:"chunk_limit"`    // seal a chunk when its records (msgpack, before compression) would grow past this many bytes
	SealInterval time.Duration `yaml:"flush_interval"` // seal a chunk this long after its first record
	TotalLimit   int64         `yaml:"total_limit"`    // bytes on disk (compressed) of open and sealed chunks together
	Overflow     string        `yaml:"overflow"`       // "block" or "drop_oldest"
	// Compression is how records are compressed before they are written:
	// "zstd" (default; bodies are sent as msgpack.zst where the endpoint
	// accepts it and converted to gzip where it does not) or "gzip".
	Compression Codec `yaml:"compression"`
	GzipLevel   int   `yaml:"gzip_level"` // 1 (fastest) to 9, for gzip compression and gzip bodies
	// SingleMemberBody ships every chunk as one gzip member, compressing it
	// again at ship time, for endpoints whose gzip reader stops after the
	// first member (Ruby's Zlib::GzipReader does). Off by default: bodies
	// are the concatenated members stored on disk. The output builds bodies
	// (output.BodyConfig); the setting is configured here, with the
	// compression it applies to.
	SingleMemberBody bool `yaml:"single_member_body"`

	// AnyTag stores any Fluentd tag (a forward output's buffer keeps the
	// tags events arrived with); otherwise only td.<db>.<table>. Tags are
	// in chunk file names, bytes outside [A-Za-z0-9_.-] escaped as %XX.
	AnyTag bool `yaml:"-"`

	// Checkpoint keeps the source positions stored with records (see
	// Prepare); nil when no source stores positions.
	Checkpoint Checkpoint `yaml:"-"`

	Now    func() time.Time `yaml:"-"` // clock; nil = time.Now
	Logger *slog.Logger     `yaml:"-"` // nil = slog.Default()
}

// Checkpoint keeps the source positions that Prepare stores with records.
// The buffer treats a checkpoint record as opaque bytes: it stores it in the
// frame of the records it describes, so the position is durable exactly
// when its records are. *checkpoint.Store implements it.
type Checkpoint interface {
	// Stamp is called while the frame carrying rec is committed, before it
	// is checksummed and written; it may rewrite rec in place (its commit
	// sequence number).
	Stamp(rec []byte)
	// Committed is called once the frame carrying rec is written and
	// fsynced. rec is not retained.
	Committed(rec []byte)
	// Recover is called at Open with every record found in the chunks on
	// disk. rec is not retained.
	Recover(rec []byte)
	// Save makes the latest committed positions durable on their own; it is
	// called before a chunk holding records is deleted (shipped, parked or
	// dropped), and the chunk is kept when it fails.
	Save() error
}

// DefaultConfig returns the defaults for every field but Dir.
func DefaultConfig() Config {
	return Config{
		ChunkLimit:   8 << 20,
		SealInterval: 10 * time.Second,
		TotalLimit:   1 << 30,
		Overflow:     OverflowBlock,
		Compression:  Zstd,
		GzipLevel:    1,
	}
}

// Validate reports every problem of c, each prefixed with its field name.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("path: must be set"))
	}
	if c.ChunkLimit < 1024 {
		errs = append(errs, fmt.Errorf("chunk_limit: %d is below 1024 bytes", c.ChunkLimit))
	}
	if c.SealInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush_interval: %v must be positive", c.SealInterval))
	}
	if c.TotalLimit < c.ChunkLimit {
		errs = append(errs, fmt.Errorf("total_limit: %d is below chunk_limit %d", c.TotalLimit, c.ChunkLimit))
	}
	if c.Overflow != OverflowBlock && c.Overflow != OverflowDropOldest {
		errs = append(errs, fmt.Errorf("overflow: %q is neither %q nor %q", c.Overflow, OverflowBlock, OverflowDropOldest))
	}
	if c.Compression != Zstd && c.Compression != Gzip {
		errs = append(errs, fmt.Errorf("compression: %q is neither %q nor %q", c.Compression, Zstd, Gzip))
	}
	if c.GzipLevel < 1 || c.GzipLevel > 9 {
		errs = append(errs, fmt.Errorf("gzip_level: %d is not in 1..9", c.GzipLevel))
	}
	return errors.Join(errs...)
}

// Chunk is a sealed chunk handed to the output.
type Chunk struct {
	ID      string // 32 hex characters, time-ordered; the TD unique_id
	Tag     string // td.<db>.<table> (any tag with Config.AnyTag)
	DB      string // "" for a tag that is not td.<db>.<table>
	Table   string
	Size    int64 // bytes on disk
	Records int   // -1 when recovered from disk and not yet read
	path    string
	// hasCheckpoint: a frame carries a checkpoint record, so the
	// Checkpoint is saved before the chunk is deleted.
	hasCheckpoint bool
}

// Created is when the chunk was created, from its id (ok is false for an
// id this buffer did not make).
func (c Chunk) Created() (t time.Time, ok bool) {
	if len(c.ID) != 32 {
		return time.Time{}, false
	}
	raw, err := hex.DecodeString(c.ID[:16])
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw))), true
}

// Stats is a snapshot of the buffer's counters.
type Stats struct {
	Bytes          int64 // bytes of open, sealed and in-flight chunks
	OpenChunks     int
	SealedChunks   int // queued and in flight
	AppendedRecs   uint64
	FullRejections uint64 // Appends refused with intake.ErrFull
	DroppedChunks  uint64 // chunks deleted by drop_oldest
	DroppedRecords uint64 // records in those chunks (known counts only)
	TornBytes      uint64 // bytes cut from torn tails at recovery
	Parked         uint64
	Acked          uint64
}

type openChunk struct {
	mu            sync.Mutex
	f             *os.File
	id, tag       string
	path          string
	size          int64
	raw           atomic.Int64 // record bytes before compression, reserved or written
	records       int
	created       time.Time
	sealed        bool
	hasCheckpoint bool
}

func (oc *openChunk) rawBytes() int64 {
	if oc == nil {
		return 0
	}
	return oc.raw.Load()
}

// Buffer is the disk buffer. It implements intake.Appender.
type Buffer struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	open     map[string]*openChunk
	queue    []*Chunk          // sealed, waiting, ordered by ID
	inflight map[string]*Chunk // handed out by Next
	total    int64
	notify   chan struct{}
	opened   chan struct{} // signalled (without blocking) when a chunk is created
	closed   bool

	// appending is read-held by every Append while it compresses and
	// writes, so SealAll includes the appends that have already started.
	appending sync.RWMutex
	// detached counts the seals of rotated chunks running in the
	// background; SealAll and Close wait for them.
	detached sync.WaitGroup

	appended, full, droppedChunks, droppedRecs, torn, parked, acked atomic.Uint64

	gz     sync.Pool     // *gzip.Writer at cfg.GzipLevel
	zenc   *zstd.Encoder // stateless EncodeAll, safe for concurrent use
	frames sync.Pool     // *bytes.Buffer for frames being built
}

var _ intake.Appender = (*Buffer)(nil)

// Open opens (creating) the buffer directory and recovers what a previous run
// left: open chunks are checked frame by frame (streaming), their torn tails
// cut, and sealed; sealed chunks are queued.
func Open(cfg Config) (*Buffer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("buffer config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Buffer{cfg: cfg, log: cfg.Logger, open: map[string]*openChunk{}, inflight: map[string]*Chunk{}, notify: make(chan struct{})}
	b.frames.New = func() any { return new(bytes.Buffer) }
	var err error
	// A 2 MiB window: a tail batch's pieces (up to 2 MiB) are one segment
	// each, compressing ~10% faster than with a 1 MiB window on Apache logs;
	// each concurrent encoder holds ~3 MiB less than with the fastest
	// level's default 4 MiB; and frames stay within the 8 MiB window
	// Spillway's receivers accept (RFC 9659's limit for HTTP).
	if b.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(2<<20), zstd.WithZeroFrames(true)); err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	b.opened = make(chan struct{}, 1)
	if b.log == nil {
		b.log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, failedDir), 0o700); err != nil {
		return nil, fmt.Errorf("create buffer dir: %w", err)
	}
	if err := b.recover(); err != nil {
		return nil, err
	}
	return b, nil
}

// Pending reports the number of sealed chunks queued or in flight, and of
// open chunks.
func (b *Buffer) Pending() (sealed, open int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) + len(b.inflight), len(b.open)
}

// Stats returns a snapshot of the counters.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	s := Stats{Bytes: b.total, OpenChunks: len(b.open), SealedChunks: len(b.queue) + len(b.inflight)}
	b.mu.Unlock()
	s.AppendedRecs = b.appended.Load()
	s.FullRejections = b.full.Load()
	s.DroppedChunks = b.droppedChunks.Load()
	s.DroppedRecords = b.droppedRecs.Load()
	s.TornBytes = b.torn.Load()
	s.Parked = b.parked.Load()
	s.Acked = b.acked.Load()
	return s
}

// Close closes the open chunk files without sealing them (the next Open
// recovers and seals them) and wakes waiters in Next.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	open := b.open
	b.open = map[string]*openChunk{}
	b.wakeLocked()
	b.mu.Unlock()
	b.detached.Wait() // no seal touches the directory after Close
	var errs []error
	for _, oc := range open {
		oc.mu.Lock()
		if !oc.sealed {
			oc.sealed = true
			if err := oc.f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		oc.mu.Unlock()
	}
	return errors.Join(errs...)
}
