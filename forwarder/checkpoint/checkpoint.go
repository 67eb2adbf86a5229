// Package checkpoint owns the source positions the disk buffer stores with
// records: the encoding of a checkpoint record, the order of records (a
// sequence number stamped when the buffer commits the frame that carries
// one), the positions file that keeps the latest position of every key once
// the chunks holding them are deleted, and their recovery after a crash.
//
// The buffer treats a record as opaque bytes: it stores it in the same
// fsynced frame as the records it describes, so a position is never durable
// before its records are. Position values are opaque to this package too:
// each source encodes its own (the tail's are JSON).
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/spillwayhq/spillway/shared/atomicfile"
)

// FileName is the positions file in the buffer directory.
const FileName = "positions"

// MaxKey bounds the length of a record's key.
const MaxKey = 4096

// header is the fixed part of a record: a uint64 little-endian sequence
// number and a uint16 little-endian key length; the key and the position
// value follow.
const header = 10

// NewRecord encodes the checkpoint record of position pos reached under key
// (one key per followed file). Its sequence number is 0 until the buffer
// commits it (see Store.Stamp).
func NewRecord(key string, pos []byte) ([]byte, error) {
	if len(key) > MaxKey {
		return nil, fmt.Errorf("position key of %d bytes is over %d", len(key), MaxKey)
	}
	return encode(make([]byte, 0, header+len(key)+len(pos)), 0, key, pos), nil
}

func encode(dst []byte, seq uint64, key string, v []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	return append(append(dst, key...), v...)
}

// decode splits a record; ok is false when rec is too short to be one.
func decode(rec []byte) (seq uint64, key string, v []byte, ok bool) {
	if len(rec) < header {
		return 0, "", nil, false
	}
	kl := int(binary.LittleEndian.Uint16(rec[8:]))
	if len(rec) < header+kl {
		return 0, "", nil, false
	}
	return binary.LittleEndian.Uint64(rec), string(rec[header : header+kl]), rec[header+kl:], true
}

// seqPos is a position with the sequence number it was committed with.
type seqPos struct {
	seq uint64
	v   []byte
}

// Store keeps the latest committed position of every key and every
// position found at Open. It implements the buffer's Checkpoint interface.
// Safe for concurrent use.
type Store struct {
	path string

	mu        sync.Mutex
	latest    map[string]seqPos   // latest position committed per key
	seq       uint64              // last sequence number stamped or recovered
	recovered map[string][][]byte // positions found at Open and by Recover
}

// Open reads the positions file in dir (none yet is no positions; a damaged
// tail is ignored). The buffer then adds the records it finds in its chunks
// with Recover.
func Open(dir string) (*Store, error) {
	s := &Store{path: filepath.Join(dir, FileName), latest: map[string]seqPos{}, recovered: map[string][][]byte{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read buffer positions: %w", err)
	}
	// The file is a sequence of uint32-length-prefixed records.
	for len(data) >= 4 {
		n := binary.LittleEndian.Uint32(data)
		if uint64(n) > uint64(len(data)-4) {
			break
		}
		s.Recover(data[4 : 4+n])
		data = data[4+n:]
	}
	return s, nil
}

// Stamp gives rec the next sequence number, in place. The buffer calls it
// while committing the frame that carries rec, before the frame is
// checksummed and written, so sequence numbers follow commit order.
func (s *Store) Stamp(rec []byte) {
	if len(rec) < header {
		return
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	binary.LittleEndian.PutUint64(rec, seq)
}

// Committed makes rec its key's latest position unless a later one is
// already: the buffer calls it once the frame carrying rec is written and
// fsynced. rec may be reused after the call.
func (s *Store) Committed(rec []byte) {
	seq, k, v, ok := decode(rec)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.latest[k]; !ok || seq > cur.seq {
		s.latest[k] = seqPos{seq, bytes.Clone(v)}
	}
}

// Recover adds a record found on disk (in a chunk or the positions file):
// it is reported by Recovered, and becomes its key's latest position when
// its sequence number is the highest seen. Records too short to decode are
// ignored.
func (s *Store) Recover(rec []byte) {
	seq, k, v, ok := decode(rec)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovered[k] = append(s.recovered[k], bytes.Clone(v))
	if cur, ok := s.latest[k]; !ok || seq > cur.seq {
		s.latest[k] = seqPos{seq, bytes.Clone(v)}
	}
	s.seq = max(s.seq, seq)
}

// Save writes the latest position of every key to the positions file
// atomically. The buffer calls it before it deletes a chunk that holds
// records, so deleting a chunk never loses the position its records had
// reached.
func (s *Store) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	for k, sp := range s.latest {
		out = binary.LittleEndian.AppendUint32(out, uint32(header+len(k)+len(sp.v)))
		out = encode(out, sp.seq, k, sp.v)
	}
	return atomicfile.WriteFile(s.path, out)
}

// Recovered returns, per key, every position value found at Open and by
// Recover (in the positions file and in the chunks on disk). A source takes
// the furthest of these and of its own position file.
func (s *Store) Recovered() map[string][][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][][]byte, len(s.recovered))
	for k, v := range s.recovered {
		out[k] = v
	}
	return out
}
