package fanout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// encodeZstd returns raws as concatenated zstd frames of at most frame
// uncompressed bytes each (cut at any byte), or one frame when frame <= 0,
// written as ingest writes parts (SpeedFastest, 1 MiB window).
func encodeZstd(tb testing.TB, frame int, raws ...[]byte) []byte {
	return testcodec.Zstd(tb, bytes.Join(raws, nil), frame)
}

// zstdSkippable is a skippable frame (magic 0x184D2A50) with 3 bytes of
// user data, which decoders skip.
var zstdSkippable = []byte{0x50, 0x2a, 0x4d, 0x18, 0x03, 0x00, 0x00, 0x00, 'x', 'y', 'z'}

// zstdHugeWindow is a zstd frame whose header asks for a 1 GiB window
// (window descriptor 0xA0: log 30) followed by an empty last raw block.
var zstdHugeWindow = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00}

// TestDecodePayload decodes both envelope encodings, valid and hostile,
// twice over so the pooled zstd decoders are reused after every failure.
// Every failure is ErrBadPayload (the record is quarantined).
func TestDecodePayload(t *testing.T) {
	raw := mp(t, map[string]any{"time": 1, "msg": strings.Repeat("x", 1000)}, map[string]any{"time": 2, "n": 7})
	bomb := mp(t, map[string]any{"time": 1, "x": strings.Repeat("a", 64<<20)})
	gz, zs := tdrecord.GzipStream(raw), encodeZstd(t, 0, raw)
	limit := int64(len(raw))
	tests := []struct {
		name     string
		enc      string
		payload  []byte
		limit    int64
		contains string // "" = decodes to raw
	}{
		{name: "gzip at the limit", enc: envelope.EncodingGzip, payload: gz, limit: limit},
		{name: "gzip two members", enc: envelope.EncodingGzip, payload: append(tdrecord.GzipStream(raw[:10]), tdrecord.GzipStream(raw[10:])...), limit: limit},
		{name: "gzip over the limit", enc: envelope.EncodingGzip, payload: gz, limit: limit - 1, contains: "exceeds"},
		{name: "not gzip", enc: envelope.EncodingGzip, payload: []byte("not gzip"), limit: limit, contains: "gzip"},
		{name: "zstd sent as gzip", enc: envelope.EncodingGzip, payload: zs, limit: limit, contains: "gzip"},
		{name: "zstd at the limit", enc: envelope.EncodingZstd, payload: zs, limit: limit},
		{name: "zstd frames cut every 7 bytes", enc: envelope.EncodingZstd, payload: encodeZstd(t, 7, raw), limit: limit},
		{name: "zstd with skippable and empty frames", enc: envelope.EncodingZstd, payload: slices.Concat(zstdSkippable, encodeZstd(t, 0, raw[:500]), encodeZstd(t, 0), zstdSkippable, encodeZstd(t, 0, raw[500:])), limit: limit},
		{name: "zstd over the limit", enc: envelope.EncodingZstd, payload: zs, limit: limit - 1, contains: "exceeds"},
		{name: "zstd bomb stops at the limit", enc: envelope.EncodingZstd, payload: encodeZstd(t, 0, bomb), limit: 1 << 20, contains: "exceeds"},
		{name: "empty zstd", enc: envelope.EncodingZstd, payload: nil, limit: limit, contains: "empty"},
		{name: "not zstd", enc: envelope.EncodingZstd, payload: []byte("not zstd at all"), limit: limit, contains: "zstd"},
		{name: "gzip sent as zstd", enc: envelope.EncodingZstd, payload: gz, limit: limit, contains: "zstd"},
		{name: "truncated zstd", enc: envelope.EncodingZstd, payload: zs[:len(zs)-3], limit: limit, contains: "zstd"},
		{name: "zstd with trailing garbage", enc: envelope.EncodingZstd, payload: append(bytes.Clone(zs), "junk"...), limit: limit, contains: "zstd"},
		{name: "zstd window over 8 MiB", enc: envelope.EncodingZstd, payload: zstdHugeWindow, limit: limit, contains: "zstd"},
		{name: "zstd of a non-map", enc: envelope.EncodingZstd, payload: encodeZstd(t, 0, []byte{0x01}), limit: limit, contains: "not a map"},
		{name: "unknown encoding", enc: "lz4", payload: gz, limit: limit, contains: "unknown payload encoding"},
	}
	for round := range 2 {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				evs, _, err := DecodePayload(tc.enc, tc.payload, tc.limit)
				if tc.contains == "" {
					var got []byte
					for _, e := range evs {
						got = append(got, e.Raw...)
					}
					if err != nil || len(evs) != 2 || !bytes.Equal(got, raw) {
						t.Fatalf("round %d: %d events, err %v; want the 2 events", round, len(evs), err)
					}
					return
				}
				if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("round %d: err = %v, want ErrBadPayload containing %q", round, err, tc.contains)
				}
			})
		}
	}
}

// TestZstdEnvelopeStoresWhatGzipStores sends the 10k corpus through fanout
// (moto) once in gzip envelopes and once in zstd envelopes (one frame per
// part, and many frames per part) under different tables: the staged
// objects must be gzip with the same keys (but for the table) and, after
// gunzip, the same bytes; the catalog the same counts, bounds and schema.
func TestZstdEnvelopeStoresWhatGzipStores(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	evs := corpusEvents(t)
	now := time.Date(2015, 5, 22, 0, 0, 0, 0, time.UTC)
	h := e.handler(t, now)
	send := func(t *testing.T, table string, encode func([][]byte) (string, []byte)) {
		t.Helper()
		const per = 500
		parts := (len(evs) + per - 1) / per
		var ev events.KinesisEvent
		for p := range parts {
			chunk := evs[p*per : min(len(evs), (p+1)*per)]
			enc, payload := encode(chunk)
			data, err := envelope.Marshal(&envelope.Envelope{DB: "corpus_db", Table: table, UniqueID: "corpus-1", Part: p, Parts: parts,
				Producer: "test", Events: len(chunk), Encoding: enc, Payload: payload})
			if err != nil {
				t.Fatal(err)
			}
			ev.Records = append(ev.Records, rawRecord(p+1, data))
		}
		for i := 0; i < len(ev.Records); i += 10 {
			batch := events.KinesisEvent{Records: ev.Records[i:min(len(ev.Records), i+10)]}
			if resp, err := h.Handle(ctx, batch); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("table %s, batch at %d: %v %+v", table, i, err, resp)
			}
		}
	}
	send(t, "gzip_ref", func(c [][]byte) (string, []byte) { return envelope.EncodingGzip, tdrecord.GzipStream(c...) })
	want := e.stagedObjects(t, "corpus_db", "gzip_ref")
	wantCat := e.catalog(t, "corpus_db", "gzip_ref")
	if len(want) == 0 || wantCat.Count != int64(len(evs)) {
		t.Fatalf("gzip reference: %d objects, catalog %+v", len(want), wantCat)
	}
	tests := []struct {
		table  string
		encode func([][]byte) (string, []byte)
	}{
		{"zstd_one_frame", func(c [][]byte) (string, []byte) { return envelope.EncodingZstd, encodeZstd(t, 0, c...) }},
		{"zstd_4k_frames", func(c [][]byte) (string, []byte) { return envelope.EncodingZstd, encodeZstd(t, 4096, c...) }},
	}
	for _, tc := range tests {
		t.Run(tc.table, func(t *testing.T) {
			send(t, tc.table, tc.encode)
			got := e.stagedObjects(t, "corpus_db", tc.table)
			if len(got) != len(want) {
				t.Fatalf("%d staged objects, gzip envelopes gave %d", len(got), len(want))
			}
			for k, body := range want {
				if !bytes.Equal(got[k], body) {
					t.Fatalf("staged object %s differs from the gzip envelopes' (%d vs %d bytes)", k, len(got[k]), len(body))
				}
			}
			c := e.catalog(t, "corpus_db", tc.table)
			if c.Count != wantCat.Count || c.Bytes != wantCat.Bytes || c.Min != wantCat.Min || c.Max != wantCat.Max ||
				c.Late != wantCat.Late || c.Future != wantCat.Future || !maps.Equal(c.Schema, wantCat.Schema) {
				t.Fatalf("catalog %+v, gzip envelopes gave %+v", c, wantCat)
			}
			items, n := e.stagedItems(t, "corpus_db", tc.table)
			if wi, wn := e.stagedItems(t, "corpus_db", "gzip_ref"); items != wi || n != wn {
				t.Fatalf("staged items %d (%d events), gzip envelopes gave %d (%d)", items, n, wi, wn)
			}
		})
	}
}

// stagedObjects returns the staged objects of db.table as gunzipped bytes,
// keyed by their partition with the table name taken out and their rank by
// content within it (object names are hashes of ledger ids, which hold the
// table name). It fails unless each object is gzip.
func (e *testEnv) stagedObjects(tb testing.TB, db, table string) map[string][]byte {
	tb.Helper()
	byDir := map[string][][]byte{}
	for _, k := range e.keys(tb, "staged/") {
		if !strings.Contains(k, "/table="+table+"/") {
			continue
		}
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
			tb.Fatalf("staged object %s is not gzip", k)
		}
		evs, _, err := DecodePayload(envelope.EncodingGzip, body, 1<<30)
		if err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		var raw []byte
		for _, ev := range evs {
			raw = append(raw, ev.Raw...)
		}
		dir := k[:strings.LastIndexByte(k, '/')]
		byDir[strings.ReplaceAll(dir, table, "T")] = append(byDir[strings.ReplaceAll(dir, table, "T")], raw)
	}
	out := map[string][]byte{}
	for dir, bodies := range byDir {
		slices.SortFunc(bodies, bytes.Compare)
		for i, b := range bodies {
			out[dir+"#"+strconv.Itoa(i)] = b
		}
	}
	return out
}
