package ingest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// zstdHugeWindow is a zstd frame whose header asks for a 1 GiB window
// (window descriptor 0xA0: log 30) followed by an empty last raw block.
var zstdHugeWindow = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00}

// zstdSkippable is a skippable frame (magic 0x184D2A50) with 3 bytes of
// user data, which decoders skip.
var zstdSkippable = []byte{0x50, 0x2a, 0x4d, 0x18, 0x03, 0x00, 0x00, 0x00, 'x', 'y', 'z'}

// zstdBomb is one valid event carrying n bytes of 'a', zstd-compressed
// (a few KiB for 64 MiB).
func zstdBomb(t testing.TB, n int) []byte {
	t.Helper()
	return zstdFrames(t, msgpackStream(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", n)}), 0)
}

// TestImportZstdStoresWhatGzipStores imports the 10k corpus as gzip and as
// zstd (one frame, many frames cut at arbitrary bytes, skippable frames,
// base64, without id, five times over so it splits): Kinesis gets the same
// events, byte for byte. A body that fits one record is its one payload,
// passed through in its own encoding; a body cut into parts is
// re-compressed as splitEncoding whatever it came as.
func TestImportZstdStoresWhatGzipStores(t *testing.T) {
	raw1, n1 := apacheStream(t, 1)
	raw5, n5 := apacheStream(t, 5)
	const withID = "/v3/table/import_with_id/testdb/www_access/corpus1/msgpack."
	tests := []struct {
		name    string
		path    string
		raw     []byte
		events  int
		body    func(t testing.TB, raw []byte) []byte
		base64  bool
		wantUID string // "" = derived from the body
		wantEnc string // every part's encoding
		through bool   // the body itself is the one payload
	}{
		{name: "gzip (reference)", path: withID + "gz", raw: raw1, events: n1, body: gzBytes, wantUID: "corpus1", wantEnc: envelope.EncodingGzip, through: true},
		{name: "zstd one frame", path: withID + "zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 0) }, wantUID: "corpus1", wantEnc: envelope.EncodingZstd, through: true},
		{name: "zstd 64 KiB frames", path: withID + "zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 64<<10) }, wantUID: "corpus1", wantEnc: envelope.EncodingZstd, through: true},
		// 2,440 small frames make a body over the record budget: it is split.
		{name: "zstd 1000-byte frames cut mid-event", path: withID + "zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 1000) }, wantUID: "corpus1", wantEnc: splitEncoding},
		{name: "zstd frames with skippable frames between", path: withID + "zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte {
			half := len(p) / 2
			out := append([]byte(nil), zstdSkippable...)
			out = append(out, zstdFrames(t, p[:half], 0)...)
			out = append(out, zstdSkippable...)
			out = append(out, zstdFrames(t, nil, 0)...) // an empty frame
			return append(out, zstdFrames(t, p[half:], 0)...)
		}, wantUID: "corpus1", wantEnc: envelope.EncodingZstd, through: true},
		{name: "zstd base64", path: withID + "zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 64<<10) }, base64: true, wantUID: "corpus1", wantEnc: envelope.EncodingZstd, through: true},
		{name: "zstd without id", path: "/v3/table/import/testdb/www_access/msgpack.zst", raw: raw1, events: n1, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 64<<10) }, wantEnc: envelope.EncodingZstd, through: true},
		{name: "gzip corpus x5 splits into parts (reference)", path: withID + "gz", raw: raw5, events: n5, body: gzBytes, wantUID: "corpus1", wantEnc: splitEncoding},
		{name: "zstd corpus x5 splits into parts", path: withID + "zst", raw: raw5, events: n5, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 256<<10) }, wantUID: "corpus1", wantEnc: splitEncoding},
		{name: "zstd corpus x5 in 64 KiB frames splits into parts", path: withID + "zst", raw: raw5, events: n5, body: func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 64<<10) }, wantUID: "corpus1", wantEnc: splitEncoding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			body := tc.body(t, tc.raw)
			sent := string(body)
			if tc.base64 {
				sent = base64.StdEncoding.EncodeToString(body)
			}
			req := apiReq(http.MethodPut, tc.path, keyWriter, sent, nil)
			req.IsBase64Encoded = tc.base64
			resp := env.call(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
			}
			var got importResponse
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			sum := md5.Sum(body)
			if got.MD5Hex != hex.EncodeToString(sum[:]) || got.UniqueID != tc.wantUID {
				t.Fatalf("response %+v", got)
			}
			wantUID := tc.wantUID
			if wantUID == "" {
				wantUID = requestUniqueID(context.Background(), &request{ev: &req}, "testdb", "www_access")
			}
			d := decodeEntries(t, env.kin.entries()) // decodes each payload as its envelope says
			if len(d.events) != tc.events {
				t.Fatalf("%d events reached Kinesis, want %d", len(d.events), tc.events)
			}
			var stored []byte
			for i, e := range d.envs {
				if e.UniqueID != wantUID || e.Part != i || e.Parts != len(d.envs) || e.Encoding != tc.wantEnc {
					t.Fatalf("envelope %d: %+v, want encoding %q", i, e, tc.wantEnc)
				}
				if tc.through && (len(d.envs) != 1 || !bytes.Equal(e.Payload, body)) {
					t.Fatal("a body that fits one record should pass through unchanged")
				}
				stored = append(stored, payloadOf(t, e)...)
			}
			if !bytes.Equal(stored, tc.raw) {
				t.Fatalf("stored events differ from the imported stream (%d vs %d bytes)", len(stored), len(tc.raw))
			}
			if len(tc.raw) == len(raw5) && len(d.envs) < 2 {
				t.Fatalf("corpus x5 in %d record(s), want a split", len(d.envs))
			}
			if !strings.Contains(env.logs.String(), `"format":"msgpack.`) {
				t.Fatalf("log lacks the format: %s", env.logs.String())
			}
		})
	}
}

// TestUnzstd runs the decoder on valid and hostile bodies twice over, so the
// pooled decoders are reused after every kind of failure.
func TestUnzstd(t *testing.T) {
	stream := msgpackStream(t, map[string]any{"time": int64(1), "k": "v"}, map[string]any{"time": int64(2), "k": strings.Repeat("w", 5000)})
	lim := DefaultLimits()
	small := lim
	small.MaxDecompressedBytes, small.RatioFloorBytes = 100, 100
	tests := []struct {
		name     string
		body     []byte
		lim      Limits
		status   int // 0 = accepted, output == stream
		reason   string
		contains string
	}{
		{name: "one frame", body: zstdFrames(t, stream, 0), lim: lim},
		{name: "frame per 7 bytes", body: zstdFrames(t, stream, 7), lim: lim},
		{name: "skippable frame first", body: append(append([]byte(nil), zstdSkippable...), zstdFrames(t, stream, 0)...), lim: lim},
		{name: "empty", body: nil, lim: lim, status: 400, reason: reasonBadGzip, contains: "not zstd"},
		{name: "garbage", body: []byte("hello, world"), lim: lim, status: 400, reason: reasonBadGzip, contains: "invalid zstd body"},
		{name: "gzip", body: gzBytes(t, stream), lim: lim, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "trailing garbage after a frame", body: append(zstdFrames(t, stream, 0), "junk"...), lim: lim, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "truncated", body: zstdFrames(t, stream, 0)[:20], lim: lim, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "1 GiB window", body: zstdHugeWindow, lim: lim, status: 400, reason: reasonBadGzip, contains: "window over the 8388608-byte limit"},
		{name: "over MaxDecompressedBytes", body: zstdFrames(t, stream, 0), lim: small, status: 413, reason: reasonDecompTooLarge},
		{name: "bomb", body: zstdBomb(t, 64<<20), lim: lim, status: 413, reason: reasonRatio, contains: "zstd body expands more than 200 times"},
	}
	for round := range 2 {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out, aerr := decompress(tdrecord.Zstd, tc.body, tc.lim, nil)
				if tc.status == 0 {
					if aerr != nil || !bytes.Equal(out, stream) {
						t.Fatalf("round %d: %d bytes, %v; want the stream", round, len(out), aerr)
					}
					return
				}
				if aerr == nil || aerr.Status != tc.status || aerr.Reason != tc.reason || !strings.Contains(aerr.Message, tc.contains) {
					t.Fatalf("round %d: got %v, want %d %s containing %q", round, aerr, tc.status, tc.reason, tc.contains)
				}
			})
		}
	}
}
