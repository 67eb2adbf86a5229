package fanout

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// TestStoresWhatIngestAccepts: times ingest accepts (any integer in the
// int64 range) are stored; fanout used to refuse uint64 times over 2^62 and
// quarantine the whole accepted part.
func TestStoresWhatIngestAccepts(t *testing.T) {
	event := func(timeBytes ...byte) []byte {
		return append([]byte{0x82, 0xa1, 'a', 0x01, 0xa4, 't', 'i', 'm', 'e'}, timeBytes...)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, v) }
	tests := []struct {
		name string
		raw  []byte
		want int64
	}{
		{name: "uint64 2^62", raw: event(u64(1 << 62)...), want: 1 << 62},
		{name: "uint64 2^62+1", raw: event(u64(1<<62 + 1)...), want: 1<<62 + 1},
		{name: "uint64 2^63-1", raw: event(u64(1<<63 - 1)...), want: 1<<63 - 1},
		{name: "int64 min", raw: event(binary.BigEndian.AppendUint64([]byte{0xd3}, 1<<63)...), want: -1 << 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agree(t, tt.raw)
			evs, _, err := DecodeStream(tt.raw)
			if err != nil || len(evs) != 1 || evs[0].Time != tt.want {
				t.Fatalf("fanout: %v %v, want time %d", evs, err, tt.want)
			}
		})
	}
}

// agree asserts that a stream ingest's validation accepts (tdrecord with
// ingest's default limits) is decoded by fanout, raw and in both payload
// encodings, into the same events and times. It reports whether ingest
// accepted raw.
func agree(t *testing.T, raw []byte) bool {
	t.Helper()
	type ev struct {
		end  int
		time int64
	}
	var want []ev
	w := tdrecord.Walker{Limits: tdrecord.DefaultLimits()}
	if _, err := w.Walk(raw, func(e tdrecord.Event) { want = append(want, ev{e.End, e.Time}) }); err != nil {
		return false
	}
	check := func(what string, evs []Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: ingest accepts %d events, fanout refuses: %v", what, len(want), err)
		}
		if len(evs) != len(want) {
			t.Fatalf("%s: ingest counts %d events, fanout %d", what, len(want), len(evs))
		}
		for i, e := range evs {
			start := 0
			if i > 0 {
				start = want[i-1].end
			}
			if e.Time != want[i].time || !bytes.Equal(e.Raw, raw[start:want[i].end]) {
				t.Fatalf("%s: event %d: fanout time %d, ingest %d (or bytes differ)", what, i, e.Time, want[i].time)
			}
		}
	}
	evs, _, err := DecodeStream(raw)
	check("stream", evs, err)
	evs, _, err = DecodePayload(envelope.EncodingGzip, tdrecord.GzipStream(raw), envelope.MaxPayloadRaw)
	check("gzip payload", evs, err)
	evs, _, err = DecodePayload(envelope.EncodingZstd, encodeZstd(t, 0, raw), envelope.MaxPayloadRaw)
	check("zstd payload", evs, err)
	return true
}

// seedCorpora are the fuzz seed directories of both sides: raw streams and
// compressed bodies (each compressed seed is tried decompressed as well).
var seedCorpora = []string{
	"../../shared/tdrecord/testdata/fuzz/FuzzWalk",
	"testdata/fuzz/FuzzDecodeStream",
	"testdata/fuzz/FuzzDecodePayload",
	"../ingest/testdata/fuzz/FuzzDecodeImport",
	"../ingest/testdata/fuzz/FuzzDecodeImportZstd",
}

// addSeeds adds every []byte seed file of dirs to f.
func addSeeds(f *testing.F, dirs []string) {
	f.Helper()
	n := 0
	for _, dir := range dirs {
		files, err := os.ReadDir(dir)
		if err != nil {
			f.Fatalf("seed corpus: %v", err)
		}
		for _, fi := range files {
			b, err := os.ReadFile(filepath.Join(dir, fi.Name()))
			if err != nil {
				f.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
				continue
			}
			v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
			if err != nil {
				f.Fatalf("seed %s/%s: %v", dir, fi.Name(), err)
			}
			f.Add([]byte(v))
			n++
		}
	}
	if n == 0 {
		f.Fatal("no seeds found")
	}
}

// FuzzIngestFanoutAgreement feeds the seed corpora of ingest's and fanout's
// decoders (and what the fuzzer makes of them) to both sides: every stream
// ingest accepts, as it comes or after gzip or zstd decompression with
// ingest's limits, fanout decodes into the same events and times.
func FuzzIngestFanoutAgreement(f *testing.F) {
	addSeeds(f, seedCorpora)
	lim := tdrecord.DefaultLimits()
	lim.MaxDecompressedBytes = 1 << 20
	f.Fuzz(func(t *testing.T, in []byte) {
		agree(t, in)
		for _, c := range []tdrecord.Compression{tdrecord.Gzip, tdrecord.Zstd} {
			raw, err := tdrecord.Decompress(c, in, lim, nil)
			if err != nil || !agree(t, raw) {
				continue
			}
			// Ingest passes a body that fits one record through as it came.
			enc := envelope.EncodingGzip
			if c == tdrecord.Zstd {
				enc = envelope.EncodingZstd
			}
			evs, _, err := DecodePayload(enc, in, envelope.MaxPayloadRaw)
			if err != nil || len(evs) == 0 && len(raw) > 0 {
				t.Fatalf("%s body passed through: fanout refuses what ingest accepts: %v", enc, err)
			}
		}
	})
}
