package buffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// seqPos is a position with the sequence number it was appended with.
type seqPos struct {
	seq uint64
	v   []byte
}

// Position metadata: uint64 LE sequence, uint16 LE key length, key, value.
func encodeMeta(dst []byte, seq uint64, key string, v []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	return append(append(dst, key...), v...)
}

func (b *Buffer) addRecovered(m []byte) {
	if len(m) < 10 {
		return
	}
	seq := binary.LittleEndian.Uint64(m)
	kl := int(binary.LittleEndian.Uint16(m[8:]))
	if len(m) < 10+kl {
		return
	}
	k, v := string(m[10:10+kl]), m[10+kl:]
	b.recovered[k] = append(b.recovered[k], bytes.Clone(v))
	if cur, ok := b.latest[k]; !ok || seq > cur.seq {
		b.latest[k] = seqPos{seq, bytes.Clone(v)}
	}
	b.seq = max(b.seq, seq)
}

const positionsFile = "positions"

// loadPositions reads the positions persisted before chunks were deleted:
// a sequence of uint32-length-prefixed entries, each a uint16-length-prefixed
// key followed by the value.
func (b *Buffer) loadPositions() error {
	data, err := os.ReadFile(filepath.Join(b.cfg.Dir, positionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read buffer positions: %w", err)
	}
	for len(data) >= 4 {
		n := binary.LittleEndian.Uint32(data)
		if uint64(n) > uint64(len(data)-4) {
			break
		}
		b.addRecovered(data[4 : 4+n])
		data = data[4+n:]
	}
	return nil
}

// persistPositions writes the latest position of every key atomically, so
// deleting a chunk never loses the position its records had reached.
func (b *Buffer) persistPositions() error {
	b.posMu.Lock()
	defer b.posMu.Unlock()
	var out []byte
	for k, sp := range b.latest {
		out = binary.LittleEndian.AppendUint32(out, uint32(10+len(k)+len(sp.v)))
		out = encodeMeta(out, sp.seq, k, sp.v)
	}
	return writeAtomic(filepath.Join(b.cfg.Dir, positionsFile), out)
}

// RecoveredPositions returns, per key, every position value found at Open
// (in the positions file and in the chunks on disk). A source takes the
// furthest of these and of its own position file.
func (b *Buffer) RecoveredPositions() map[string][][]byte {
	b.posMu.Lock()
	defer b.posMu.Unlock()
	out := make(map[string][][]byte, len(b.recovered))
	for k, v := range b.recovered {
		out[k] = v
	}
	return out
}
