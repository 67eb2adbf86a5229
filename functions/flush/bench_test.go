package flush

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkFlushPerMB stages 1 MiB (8 objects of 128 KiB, two hours) for a
// fresh table and measures a forced flush into one TD receiver: time per
// sealed MB against moto.
func BenchmarkFlushPerMB(b *testing.B) {
	e := newTestEnv(b)
	td := newTDReceiver(b)
	h := e.handler(b, time.Unix(hourT, 0), []Sink{td.sink()})
	msg := strings.Repeat("x", 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		table := fmt.Sprintf("bench_%d", i)
		for o := 0; o < 8; o++ {
			msgs := make([]string, 128)
			for j := range msgs {
				msgs[j] = fmt.Sprintf("%d-%d-%d-%s", i, o, j, msg)
			}
			e.stage(b, "bench_db", table, hourT-3600*int64(1+o%2), false, fmt.Sprintf("p%d", o), msgs...)
		}
		req := []byte(fmt.Sprintf(`{"source":"spillway.ingest","db":"bench_db","table":%q,"force":true}`, table))
		b.StartTimer()
		res, err := h.Handle(ctx, req)
		if err != nil || res.Events != 8*128 {
			b.Fatalf("flush: %v %+v", err, res)
		}
	}
}

// BenchmarkFlushSinks seals MiB of Apache-like records (1 MiB staged
// objects, one hour, so one sealed object) for a fresh table and measures
// a forced flush into one TD receiver ("td") and into the same receiver
// plus the Iceberg lake ("td+lake"): the lake's cost per MB (decode, Arrow,
// Parquet zstd, Glue commit) in the same run; 64 MiB is one full lake batch
// (lakeBatchBytes), the most one append holds in memory. peak-RSS-MB is the
// process's: run one sub-benchmark per process.
func BenchmarkFlushSinks(b *testing.B) {
	for _, c := range []struct {
		withLake bool
		mib      int
	}{{false, 8}, {true, 8}, {false, 64}, {true, 64}} {
		name := fmt.Sprintf("%s/%dMiB", map[bool]string{false: "td", true: "td+lake"}[c.withLake], c.mib)
		b.Run(name, func(b *testing.B) {
			e := newTestEnv(b)
			td := newTDReceiver(b)
			var opts []Option
			if c.withLake {
				opts = append(opts, WithLake(newLakeRig(b, e).lake(b)))
			}
			h := e.handler(b, time.Unix(hourT, 0), []Sink{td.sink()}, opts...)
			db := e.cfg.Bucket
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(c.mib) << 20)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				table := fmt.Sprintf("bench_%d", i)
				events := 0
				for o := 0; o < c.mib; o++ {
					raw, n := apacheLike(b, i*c.mib+o, 1<<20)
					e.stageRaw(b, db, table, hourT-3600, false, fmt.Sprintf("p%d", o), raw, n)
					events += n
				}
				req := []byte(fmt.Sprintf(`{"source":"spillway.ingest","db":%q,"table":%q,"force":true}`, db, table))
				b.StartTimer()
				res, err := h.Handle(ctx, req)
				if err != nil || res.Events != int64(events) {
					b.Fatalf("flush: %v %+v, want %d events", err, res, events)
				}
			}
			if mb, ok := peakRSSMB(); ok {
				b.ReportMetric(mb, "peak-RSS-MB")
			}
		})
	}
}

// apacheLike returns about size bytes of msgpack records shaped like the
// apache2 parser's (strings and integers), distinct per seed, and their
// count.
func apacheLike(tb testing.TB, seed, size int) ([]byte, int) {
	tb.Helper()
	var buf bytes.Buffer
	n := 0
	for ; buf.Len() < size; n++ {
		b, err := msgpack.Marshal(map[string]any{
			"time": hourT - 3600 + int64(n%3600), "host": fmt.Sprintf("10.0.%d.%d", seed%256, n%256), "user": "-", "method": "GET",
			"path": fmt.Sprintf("/item/%d/page/%d", n%977, seed), "code": 200 + (n%7)*50, "size": 1000 + n%5000,
			"referer": "https://example.com/search?q=" + fmt.Sprint(n%313), "agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		})
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes(), n
}

// peakRSSMB is the process's peak resident set (VmHWM, Linux) in MB: run
// one sub-benchmark per process to attribute it.
func peakRSSMB() (float64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
