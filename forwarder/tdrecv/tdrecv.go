// Package tdrecv is a minimal Treasure Data import API receiver for the
// forwarder's tests and benchmarks: it accepts import_with_id uploads (gzip
// or zstd msgpack streams), stores each unique_id once, and can be told to
// fail or to refuse zstd as a plain TD endpoint does.
package tdrecv

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Receiver is an http.Handler speaking the TD import API's import_with_id.
type Receiver struct {
	// APIKey, when set, is required as "Authorization: TD1 <APIKey>".
	APIKey string
	// Keep stores the decoded records (else only counted).
	Keep bool
	// Fail, when set, is asked before each upload; a non-zero status is
	// answered instead of storing the upload.
	Fail func(db, table, uniqueID string) int
	// GzipOnly makes the receiver answer msgpack.zst uploads 415, as a TD
	// endpoint that knows only msgpack.gz does (for the forwarder's
	// fallback to gzip).
	GzipOnly bool

	mu       sync.Mutex
	seen     map[string]int // unique_id -> records
	records  []map[string]any
	count    int
	dups     int
	bytes    int64
	requests int
	formats  map[string]int // import requests per format
}

// New returns a Receiver.
func New(apiKey string, keep bool) *Receiver {
	return &Receiver{APIKey: apiKey, Keep: keep, seen: map[string]int{}, formats: map[string]int{}}
}

// ServeHTTP handles PUT /v3/table/import_with_id/<db>/<table>/<unique_id>/<format>
// with format msgpack.gz or msgpack.zst (415 for any other, and for
// msgpack.zst when GzipOnly).
func (rv *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rv.mu.Lock()
	rv.requests++
	rv.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPut || len(parts) != 7 || parts[0] != "v3" || parts[2] != "import_with_id" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	db, table, uid, format := parts[3], parts[4], parts[5], parts[6]
	rv.mu.Lock()
	if rv.formats == nil {
		rv.formats = map[string]int{}
	}
	rv.formats[format]++
	rv.mu.Unlock()
	if rv.APIKey != "" && r.Header.Get("Authorization") != "TD1 "+rv.APIKey {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if format != tdimport.FormatGzip && (format != tdimport.FormatZstd || rv.GzipOnly) {
		http.Error(w, fmt.Sprintf(`{"error":"format %s is not supported"}`, strings.ReplaceAll(format, `"`, "")), http.StatusUnsupportedMediaType)
		return
	}
	if rv.Fail != nil {
		if st := rv.Fail(db, table, uid); st != 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, fmt.Sprintf(`{"error":"injected %d"}`, st), st)
			return
		}
	}
	body := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), maxBody)+bytes.MinRead))
	_, err := body.ReadFrom(io.LimitReader(r.Body, maxBody))
	raw := body.Bytes()
	if err != nil {
		http.Error(w, `{"error":"read body"}`, http.StatusBadRequest)
		return
	}
	recs, n, err := decode(raw, format, rv.Keep)
	if err != nil {
		http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
		return
	}
	rv.mu.Lock()
	if rv.seen == nil {
		rv.seen = map[string]int{}
	}
	if _, dup := rv.seen[uid]; dup {
		rv.dups++
	} else {
		rv.seen[uid] = n
		rv.count += n
		rv.bytes += int64(len(raw))
		rv.records = append(rv.records, recs...)
	}
	rv.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"database": db, "table": table, "unique_id": uid, "md5_hex": "", "elapsed_time": 0})
}

// maxBody bounds a request body and, for zstd, its decompressed stream.
const maxBody = 512 << 20

// maxZstdWindow is the largest zstd window accepted: 8 MiB, as Spillway's
// ingest (RFC 9659's limit for zstd in HTTP).
const maxZstdWindow = 8 << 20

// zstdDecoder is shared: DecodeAll is safe for concurrent use and keeps
// GOMAXPROCS block decoders of its own.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxBody))
})

// plainBuffers are reused decompression outputs (decoded records copy what
// they keep).
var plainBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<20); return &b }}

func decode(body []byte, format string, keep bool) ([]map[string]any, int, error) {
	var plain []byte
	if format == tdimport.FormatZstd {
		d, err := zstdDecoder()
		if err != nil {
			return nil, 0, fmt.Errorf("zstd decoder: %w", err)
		}
		bufp := plainBuffers.Get().(*[]byte)
		defer plainBuffers.Put(bufp)
		if plain, err = d.DecodeAll(body, (*bufp)[:0]); err != nil {
			return nil, 0, fmt.Errorf("zstd: %w", err)
		}
		if cap(plain) <= 64<<20 {
			*bufp = plain[:0]
		}
	} else {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, 0, fmt.Errorf("gzip: %w", err)
		}
		if plain, err = io.ReadAll(zr); err != nil {
			return nil, 0, fmt.Errorf("gunzip: %w", err)
		}
	}
	if !keep {
		n, err := countRecords(plain)
		if err != nil {
			return nil, 0, fmt.Errorf("msgpack record %d: %w", n, err)
		}
		return nil, n, nil
	}
	dec := msgpack.NewDecoder(bytes.NewReader(plain))
	var out []map[string]any
	for n := 0; ; n++ {
		var m map[string]any
		err := dec.Decode(&m)
		if err == io.EOF {
			return out, n, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("msgpack record %d: %w", n, err)
		}
		if _, ok := m["time"]; !ok {
			return nil, 0, errors.New("record without time")
		}
		out = append(out, m)
	}
}

// Formats returns the number of import requests seen per format (the last
// path segment), whatever their answer.
func (rv *Receiver) Formats() map[string]int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return maps.Clone(rv.formats)
}

// Count returns the number of records stored (duplicates excluded).
func (rv *Receiver) Count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.count
}

// Stats returns records stored, duplicate uploads, compressed bytes stored
// and requests seen.
func (rv *Receiver) Stats() (records, dups int, bytes int64, requests int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.count, rv.dups, rv.bytes, rv.requests
}

// Records returns a copy of the stored records (Keep only).
func (rv *Receiver) Records() []map[string]any {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]map[string]any(nil), rv.records...)
}
