package lake

import (
	"io"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// benchStream is 10,000 access-log events as a TD record stream.
func benchStream(b *testing.B) ([]byte, int) {
	b.Helper()
	const n = 10_000
	var out []byte
	for i := range n {
		r := map[string]any{
			"host": "10.0.0." + strconv.Itoa(i%250), "user": "-", "method": "GET",
			"path": "/api/v1/items/" + strconv.Itoa(i%1000) + "?page=" + strconv.Itoa(i%7), "code": 200 + i%4*100,
			"size": 512 + i%4096, "referer": "https://example.com/", "agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
			"latency": float64(i%1000) / 1000, "tags": map[string]any{"env": "prod", "shard": i % 16},
		}
		var err error
		if out, err = tdrecord.AppendRecord(out, r, 1796119200+int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	return out, n
}

// benchSchema is the table schema after the first append of the stream.
func benchSchema(p schemaPlan) *iceberg.Schema {
	fields := baseSchema().Fields()
	for i, a := range p.adds {
		fields = append(fields, iceberg.NestedField{ID: 3 + i, Name: a.name, Type: a.kind.icebergType()})
	}
	return iceberg.NewSchema(0, fields...)
}

func perEvent(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkDecode is the raw msgpack decode of the stream (tdrecord.Decode).
func BenchmarkDecode(b *testing.B) {
	raw, n := benchStream(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tdrecord.Decode(raw, tdrecord.StoreLimits(len(raw))); err != nil {
			b.Fatal(err)
		}
	}
	perEvent(b, n)
}

// BenchmarkArrow is decode + schema plan + Arrow record batch.
func BenchmarkArrow(b *testing.B) {
	raw, n := benchStream(b)
	recs, _ := tdrecord.Decode(raw, tdrecord.StoreLimits(len(raw)))
	sc := benchSchema(planSchema(baseSchema(), recs))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := tdrecord.Decode(raw, tdrecord.StoreLimits(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		bt, err := toArrow(sc, planSchema(sc, recs), recs)
		if err != nil {
			b.Fatal(err)
		}
		bt.rec.Release()
	}
	perEvent(b, n)
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// BenchmarkParquet is decode + Arrow + a zstd Parquet file (pqarrow, the
// encoder iceberg-go's writer uses), written to a byte counter.
func BenchmarkParquet(b *testing.B) {
	raw, n := benchStream(b)
	recs, _ := tdrecord.Decode(raw, tdrecord.StoreLimits(len(raw)))
	sc := benchSchema(planSchema(baseSchema(), recs))
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var out int64
	for b.Loop() {
		recs, err := tdrecord.Decode(raw, tdrecord.StoreLimits(len(raw)))
		if err != nil {
			b.Fatal(err)
		}
		bt, err := toArrow(sc, planSchema(sc, recs), recs)
		if err != nil {
			b.Fatal(err)
		}
		w := &countWriter{}
		fw, err := pqarrow.NewFileWriter(bt.rec.Schema(), w, props, pqarrow.DefaultWriterProps())
		if err != nil {
			b.Fatal(err)
		}
		if err := fw.Write(bt.rec); err != nil {
			b.Fatal(err)
		}
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		bt.rec.Release()
		out = w.n
	}
	perEvent(b, n)
	b.ReportMetric(float64(out)/float64(len(raw)), "parquet/msgpack")
}
