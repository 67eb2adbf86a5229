package buffer

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// parseName reads "<32 hex id>.<escaped tag>" (a chunk file's name without
// its extension).
func (b *Buffer) parseName(base string) (id, tag string, err error) {
	i := strings.IndexByte(base, '.')
	if i != 32 {
		return "", "", errors.New("name is not <32 hex id>.<tag>")
	}
	if _, err := hex.DecodeString(base[:i]); err != nil {
		return "", "", fmt.Errorf("id: %w", err)
	}
	if tag, err = unescapeTag(base[i+1:]); err != nil {
		return "", "", err
	}
	if err := b.checkTag(tag); err != nil {
		return "", "", err
	}
	return base[:i], tag, nil
}

var idSeq atomic.Uint32

// newID returns 32 hex characters: 8 bytes of Unix nanoseconds, a 4-byte
// process sequence and 4 random bytes, so ids sort by creation time.
func (b *Buffer) newID() string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[0:8], uint64(b.cfg.Now().UnixNano()))
	binary.BigEndian.PutUint32(raw[8:12], idSeq.Add(1))
	_, _ = rand.Read(raw[12:16])
	return hex.EncodeToString(raw[:])
}

// create makes a new open chunk file for tag (caller holds b.mu).
func (b *Buffer) create(tag string) (*openChunk, error) {
	id := b.newID()
	p := filepath.Join(b.cfg.Dir, id+"."+escapeTag(tag)+openExt)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create chunk: %w", err)
	}
	if _, err := f.Write([]byte(b.magic())); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("write chunk header: %w", err)
	}
	if err := syncDir(b.cfg.Dir); err != nil {
		f.Close()
		os.Remove(p)
		return nil, err
	}
	select {
	case b.opened <- struct{}{}:
	default:
	}
	return &openChunk{f: f, id: id, tag: tag, path: p, size: int64(len(magic)), created: b.cfg.Now()}, nil
}

// magic is the header of the chunks this buffer writes.
func (b *Buffer) magic() string {
	if b.cfg.Compression == Gzip {
		return magic
	}
	return magicZstd
}

// write appends one frame (count records) and fsyncs (caller holds oc.mu).
// On error the file is cut back to its previous size.
func (b *Buffer) write(oc *openChunk, frame []byte, count int) error {
	if _, err := oc.f.WriteAt(frame, oc.size); err != nil {
		_ = oc.f.Truncate(oc.size)
		return fmt.Errorf("write chunk %s: %w", oc.id, err)
	}
	if err := datasync(oc.f); err != nil {
		_ = oc.f.Truncate(oc.size)
		return fmt.Errorf("sync chunk %s: %w", oc.id, err)
	}
	oc.size += int64(len(frame))
	oc.records += count
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
