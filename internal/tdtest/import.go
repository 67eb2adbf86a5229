package tdtest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/spillwayhq/spillway/shared/tdimport"
)

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.Now()
	db, tbl, uid, format := r.PathValue("db"), r.PathValue("table"), r.PathValue("uid"), r.PathValue("format")
	s.mu.Lock()
	s.formats[format]++
	s.mu.Unlock()
	if !validNames(w, db, tbl) {
		return
	}
	if format != tdimport.FormatGzip && (format != tdimport.FormatZstd || s.cfg.GzipOnly) {
		use := tdimport.FormatGzip + " or " + tdimport.FormatZstd
		if s.cfg.GzipOnly {
			use = tdimport.FormatGzip
		}
		tdError(w, http.StatusUnsupportedMediaType, "Unsupported format", "format "+format+" is not supported; use "+use)
		return
	}
	if s.cfg.Fail != nil {
		if status := s.cfg.Fail(db, tbl, uid); status != 0 {
			w.Header().Set("Retry-After", "0")
			tdError(w, status, http.StatusText(status), fmt.Sprintf("failure %d injected by Config.Fail", status))
			return
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), s.cfg.MaxBodyBytes)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1)); err != nil {
		tdError(w, http.StatusBadRequest, "Bad request", "read body: "+err.Error())
		return
	}
	body := buf.Bytes()
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		tdError(w, http.StatusRequestEntityTooLarge, "Request entity too large", fmt.Sprintf("body over %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	var md5hex string
	if !s.cfg.CountOnly {
		sum := md5.Sum(body)
		md5hex = hex.EncodeToString(sum[:])
	}
	recs, n, err := decodeBody(body, format, s.cfg.Limits, s.cfg.CountOnly)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, ErrBadRecord):
			status = http.StatusUnprocessableEntity
		}
		s.log.Warn("import rejected", "db", db, "table", tbl, "unique_id", uid, "format", format, "err", err)
		tdError(w, status, "Invalid import body", err.Error())
		return
	}
	s.mu.Lock()
	d, ok := s.dbs[db]
	if !ok && s.cfg.AutoCreate {
		d, ok = s.createDatabaseLocked(db, start), true
	}
	var t *table
	if ok {
		t = d.tables[tbl]
		if t == nil && s.cfg.AutoCreate {
			t = s.createTableLocked(d, tbl, start)
		}
	}
	if t == nil {
		s.mu.Unlock()
		tdError(w, http.StatusNotFound, "Table not found", "Couldn't find table "+db+"."+tbl)
		return
	}
	dup := uid != "" && t.ids[uid]
	if dup {
		s.duplicate++
	} else {
		if uid != "" {
			t.ids[uid] = true
		}
		s.seq++
		t.count += n
		for _, rec := range recs {
			t.records = append(t.records, rec)
			t.hashes = append(t.hashes, HashRecord(rec))
			if tm := rec["time"].(int64); tm > t.maxTime {
				t.maxTime = tm
			}
		}
		t.imports++
		t.bytes += int64(len(body))
		t.lastImport, t.updatedAt = start, start
	}
	seq := s.seq
	s.notifyLocked()
	s.mu.Unlock()
	if !dup && s.cfg.Dir != "" {
		stored := body
		if format == tdimport.FormatZstd {
			stored, err = zstdToGzip(body, s.cfg.Limits)
		}
		if err == nil {
			err = s.persist(db, tbl, uid, seq, stored)
		}
		if err != nil {
			s.log.Error("persist import", "db", db, "table", tbl, "unique_id", uid, "err", err)
		}
	}
	s.log.Info("import", "db", db, "table", tbl, "unique_id", uid, "format", format, "records", n, "duplicate", dup)
	writeJSON(w, http.StatusOK, map[string]any{
		"database": db, "table": tbl, "unique_id": uid, "md5_hex": md5hex,
		"elapsed_time": s.cfg.Now().Sub(start).Seconds(),
	})
}

// persist writes an accepted body atomically under Config.Dir.
func (s *Server) persist(db, tbl, uid string, seq int, body []byte) error {
	name := uid
	switch {
	case name == "":
		name = fmt.Sprintf("noid-%08d", seq)
	case !safeID.MatchString(name):
		h := sha256.Sum256([]byte(uid))
		name = "id-" + hex.EncodeToString(h[:16])
	}
	dir := filepath.Join(s.cfg.Dir, db, tbl)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return os.Rename(f.Name(), filepath.Join(dir, name+".msgpack.gz"))
}
