package buffer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func (b *Buffer) recover() error {
	ents, err := os.ReadDir(b.cfg.Dir)
	if err != nil {
		return fmt.Errorf("read buffer dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		p := filepath.Join(b.cfg.Dir, name)
		if strings.HasSuffix(name, openExt) || strings.HasSuffix(name, sealedExt) {
			if err := checkVersion(p); err != nil {
				b.log.Error("leaving chunk file of an unsupported format on disk", "file", name, "error", err)
				continue
			}
		}
		switch {
		case strings.HasSuffix(name, openExt):
			id, tag, err := b.parseName(strings.TrimSuffix(name, openExt))
			if err != nil {
				b.log.Warn("ignoring unknown file in buffer dir", "file", name, "error", err)
				continue
			}
			c, err := b.recoverOpen(p, id, tag)
			if err != nil {
				return err
			}
			if c != nil {
				b.queue = append(b.queue, c)
				b.total += c.Size
			}
		case strings.HasSuffix(name, sealedExt):
			id, tag, err := b.parseName(strings.TrimSuffix(name, sealedExt))
			if err != nil {
				b.log.Warn("ignoring unknown file in buffer dir", "file", name, "error", err)
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", name, err)
			}
			db, table := tagTable(tag)
			b.queue = append(b.queue, &Chunk{ID: id, Tag: tag, DB: db, Table: table, Size: fi.Size(), Records: -1, path: p})
			b.total += fi.Size()
		}
	}
	sort.Slice(b.queue, func(i, j int) bool { return b.queue[i].ID < b.queue[j].ID })
	for _, c := range b.queue {
		if c.Records >= 0 {
			continue // an open chunk just recovered: already scanned
		}
		if err := b.scanMeta(c); err != nil {
			return err
		}
	}
	if len(b.queue) > 0 {
		b.log.Info("buffer recovered", "chunks", len(b.queue), "bytes", b.total)
	}
	return nil
}

// checkVersion returns an ErrUnsupportedVersion error when the chunk file at
// p was written in a format this build cannot read.
func checkVersion(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return nil // reported by the caller's own open
	}
	defer f.Close()
	var m [len(magic)]byte
	if _, err := io.ReadFull(f, m[:]); err != nil {
		return nil // a short file is a torn chunk, cut by recovery
	}
	if _, err := newFrameReader(bytes.NewReader(m[:])); errors.Is(err, ErrUnsupportedVersion) {
		return err
	}
	return nil
}

// recoverOpen validates an open chunk left by a crash, cuts its torn tail and
// seals it. It returns nil when nothing valid is left (the file is removed).
func (b *Buffer) recoverOpen(p, id, tag string) (*Chunk, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open chunk %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat chunk %s: %w", p, err)
	}
	hasCheckpoint := false
	valid, recs, derr := decodeMeta(f, nil, func(m []byte) { hasCheckpoint = true; b.recoverCheckpoint(m) })
	if derr != nil && !errors.Is(derr, ErrCorrupt) {
		return nil, fmt.Errorf("read chunk %s: %w", p, derr)
	}
	if valid < int64(len(magic)) {
		valid = 0
	}
	if cut := fi.Size() - valid; cut > 0 {
		b.torn.Add(uint64(cut))
		b.log.Warn("cut torn tail of chunk", "unique_id", id, "tag", tag, "valid_bytes", valid, "cut_bytes", cut, "error", derr)
		if err := f.Truncate(valid); err != nil {
			return nil, fmt.Errorf("truncate chunk %s: %w", p, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("sync chunk %s: %w", p, err)
		}
	}
	if recs == 0 {
		_ = os.Remove(p)
		return nil, nil
	}
	sp := strings.TrimSuffix(p, openExt) + sealedExt
	if err := os.Rename(p, sp); err != nil {
		return nil, fmt.Errorf("seal recovered chunk %s: %w", p, err)
	}
	db, table := tagTable(tag)
	return &Chunk{ID: id, Tag: tag, DB: db, Table: table, Size: valid, Records: recs, path: sp, hasCheckpoint: hasCheckpoint}, nil
}

// scanMeta hands the checkpoint records stored in a chunk's frames to the
// Checkpoint and counts its records.
func (b *Buffer) scanMeta(c *Chunk) error {
	f, err := os.Open(c.path)
	if err != nil {
		return fmt.Errorf("open chunk %s: %w", c.ID, err)
	}
	defer f.Close()
	_, recs, err := decodeMeta(f, nil, func(m []byte) {
		c.hasCheckpoint = true
		b.recoverCheckpoint(m)
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("read chunk %s: %w", c.ID, err)
	}
	c.Records = recs
	return nil
}

// recoverCheckpoint hands a checkpoint record found in a chunk to the
// Checkpoint (records are ignored without one).
func (b *Buffer) recoverCheckpoint(rec []byte) {
	if b.cfg.Checkpoint != nil {
		b.cfg.Checkpoint.Recover(rec)
	}
}
