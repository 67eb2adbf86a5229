package lake_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/lake"
)

// demoRecords is the demo corpus (10,000 Apache combined lines over 85
// hours) as the forwarder's apache2 parser gives it (its golden file).
func demoRecords(b *testing.B) []map[string]any {
	b.Helper()
	f, err := os.ReadFile("../../forwarder/parser/testdata/apache_combined_10k.apache2.golden.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(f))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			continue // a line the parser reported as not matching
		}
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var raw map[string]any
		if err := d.Decode(&raw); err != nil {
			b.Fatal(err)
		}
		r := map[string]any{}
		for k, v := range raw {
			switch x := v.(type) {
			case nil:
			case json.Number:
				n, err := x.Int64()
				if err != nil {
					b.Fatalf("%s: %v", k, err)
				}
				r[k] = n
			default:
				r[k] = x
			}
		}
		out = append(out, r)
	}
	return out
}

// sizeOf returns the size of the S3 object at an s3:// URL.
func (r *rig) sizeOf(b *testing.B, url string) int64 {
	b.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	sc := s3.NewFromConfig(r.awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	out, err := sc.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		b.Fatalf("head %s: %v", url, err)
	}
	return aws.ToInt64(out.ContentLength)
}

// dataBytes returns the count and total size of the current snapshot's
// data files.
func (r *rig) dataBytes(b *testing.B, lk *lake.Lake, db, tbl string) (int, int64) {
	b.Helper()
	t, err := lk.Load(r.ctx(), db, tbl)
	if err != nil {
		b.Fatal(err)
	}
	tasks, err := t.Scan().PlanFiles(r.ctx())
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, task := range tasks {
		n += task.File.FileSizeBytes()
	}
	return len(tasks), n
}

// oneHour is n records cycling through demo, spread over one hour
// (hourBase), each with its sequence number.
func oneHour(demo []map[string]any, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		r := maps.Clone(demo[i%len(demo)])
		r["time"] = hourBase + int64(i)*3600/int64(n)
		r["seq"] = int64(i)
		out[i] = r
	}
	return out
}

// heapBytes is the Go heap's live and not yet swept objects
// (runtime/metrics /memory/classes/heap/objects:bytes) and its live
// objects as the last GC marked them (/gc/heap/live:bytes).
func heapBytes() (objects, live uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// sampleHeap samples heapBytes every 2 ms until the returned stop is
// called, which returns the largest values seen (a measurement aid for
// benchmarks: the Go runtime keeps no peak). The objects peak includes
// garbage Go's GC lets accumulate (up to GOGC=100% over the live heap);
// the live peak is what compaction holds, as of the GCs during it.
func sampleHeap() (stop func() (objects, live uint64)) {
	done := make(chan struct{})
	type peaks struct{ objects, live uint64 }
	peak := make(chan peaks)
	go func() {
		var m peaks
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			o, l := heapBytes()
			m = peaks{max(m.objects, o), max(m.live, l)}
			select {
			case <-done:
				peak <- m
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) { close(done); p := <-peak; return p.objects, p.live }
}

// resetPeakRSS resets the process's VmHWM (Linux: clear_refs 5).
func resetPeakRSS() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }

// peakRSSMB is the process's VmHWM in MB.
func peakRSSMB() float64 { return statusMB("VmHWM:") }

// statusMB reads a kB field of /proc/self/status in MB.
func statusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkCompactedSizes appends a corpus in batches (one Iceberg commit
// each, as flush's seals do), then compacts every hour with the default
// target (128 MiB) and reports the data files' count and size before and
// after, the compaction's time, the process's peak RSS during it and the
// Go heap's peak (sampled every 2 ms) during it
// (moto is another process; the records stay in memory, RSS before is
// the baseline). demo: the 10k demo corpus (85 hours) in batches of 100
// lines; hour-N: N events of one hour cycling through the demo corpus
// (with a sequence number) in batches of 10,000; -rowgroup-50k compacts
// with write.parquet.row-group-limit 50,000 rows (default 1,048,576),
// -target-256KiB with a 256 KiB target file size; all with the default
// Config.CompactMaxRows but -unbounded (one group per hour, the rewrite
// before the bound) and -max-100k (groups of at most 100,000 rows).
func BenchmarkCompactedSizes(b *testing.B) {
	hour300k := func(b *testing.B) []map[string]any { return oneHour(demoRecords(b), 300_000) }
	cases := []struct {
		name    string
		records func(b *testing.B) []map[string]any
		batch   int
		maxRows int64 // Config.CompactMaxRows; 0: the default
	}{
		{"demo", demoRecords, 100, 0},
		{"hour-100k", func(b *testing.B) []map[string]any { return oneHour(demoRecords(b), 100_000) }, 10_000, 0},
		{"hour-300k", hour300k, 10_000, 0},
		{"hour-300k-unbounded", hour300k, 10_000, math.MaxInt64},
		{"hour-300k-max-100k", hour300k, 10_000, 100_000},
		{"hour-300k-rowgroup-50k", hour300k, 10_000, 0},
		{"hour-300k-target-256KiB", hour300k, 10_000, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b)
			ctx := context.Background()
			for b.Loop() {
				records := c.records(b)
				events := len(records)
				db := uniqueDB()
				lk := r.lake(b, func(cfg *lake.Config) { cfg.CompactMaxRows = c.maxRows })
				hours := map[int64]bool{}
				for i := 0; i < len(records); i += c.batch {
					part := records[i:min(i+c.batch, len(records))]
					for _, rec := range part {
						hours[rec["time"].(int64)/3600*3600] = true
					}
					if _, err := lk.Append(ctx, db, "web", "s"+strconv.Itoa(i), stream(b, part)); err != nil {
						b.Fatal(err)
					}
				}
				if strings.HasSuffix(c.name, "-rowgroup-50k") {
					t, err := lk.Load(r.ctx(), db, "web")
					if err != nil {
						b.Fatal(err)
					}
					tx := t.NewTransaction()
					if err := tx.SetProperties(iceberg.Properties{"write.parquet.row-group-limit": "50000"}); err != nil {
						b.Fatal(err)
					}
					if _, err := tx.Commit(r.ctx()); err != nil {
						b.Fatal(err)
					}
				}
				filesBefore, bytesBefore := r.dataBytes(b, lk, db, "web")
				records = nil // so that the heap before is a small baseline, not the corpus
				runtime.GC()
				reset := resetPeakRSS()
				if reset {
					b.ReportMetric(statusMB("VmRSS:"), "RSS-before-compact-MB")
				}
				heapBefore, _ := heapBytes()
				stop := sampleHeap()
				start := time.Now()
				commits := 0
				for h := range hours {
					target := int64(0) // the default, 128 MiB
					if strings.HasSuffix(c.name, "-target-256KiB") {
						target = 256 << 10
					}
					res, err := lk.Compact(ctx, db, "web", time.Unix(h, 0), target, nil)
					if err != nil {
						b.Fatal(err)
					}
					commits += res.Commits
				}
				took := time.Since(start)
				peak, livePeak := stop()
				if reset {
					b.ReportMetric(peakRSSMB(), "compact-peak-RSS-MB")
				}
				b.ReportMetric(float64(heapBefore)/(1<<20), "heap-before-compact-MiB")
				b.ReportMetric(float64(peak)/(1<<20), "heap-peak-compact-MiB")
				b.ReportMetric(float64(livePeak)/(1<<20), "live-heap-peak-compact-MiB")
				filesAfter, bytesAfter := r.dataBytes(b, lk, db, "web")
				b.ReportMetric(float64(events), "events")
				b.ReportMetric(float64(len(hours)), "hours")
				b.ReportMetric(float64(filesBefore), "files-before")
				b.ReportMetric(float64(filesAfter), "files-after")
				b.ReportMetric(float64(bytesBefore)/float64(filesBefore)/1024, "avg-KiB-before")
				b.ReportMetric(float64(bytesAfter)/float64(filesAfter)/1024, "avg-KiB-after")
				b.ReportMetric(float64(bytesBefore)/(1<<20), "MiB-before")
				b.ReportMetric(float64(bytesAfter)/(1<<20), "MiB-after")
				b.ReportMetric(took.Seconds(), "compact-s")
				b.ReportMetric(float64(commits), "commits")
			}
		})
	}
}

// BenchmarkMetadataGrowth commits 150 small appends to one table and
// reports the current metadata.json and manifest list sizes after the
// first and the last commit, without expiry and with an Expire keeping 10
// snapshots after every commit from the 10th on.
func BenchmarkMetadataGrowth(b *testing.B) {
	const commits = 150
	for _, expire := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-expiry", true: "expiry-keep-10"}[expire], func(b *testing.B) {
			r := newRig(b)
			ctx := context.Background()
			records, _ := gen(0, commits*10, 1)
			for b.Loop() {
				db := uniqueDB()
				lk := r.lake(b, nil)
				var first, firstList, last, lastList int64
				for i := range commits {
					if _, err := lk.Append(ctx, db, "web", "s"+strconv.Itoa(i), stream(b, records[i*10:i*10+10])); err != nil {
						b.Fatal(err)
					}
					if expire && i >= 10 {
						if _, err := lk.Expire(ctx, db, "web", time.Now().Add(time.Hour), 10); err != nil {
							b.Fatal(err)
						}
					}
					if i == 0 || i == commits-1 {
						t, err := lk.Load(r.ctx(), db, "web")
						if err != nil {
							b.Fatal(err)
						}
						meta, list := r.sizeOf(b, t.MetadataLocation()), r.sizeOf(b, t.CurrentSnapshot().ManifestList)
						if i == 0 {
							first, firstList = meta, list
						} else {
							last, lastList = meta, list
						}
					}
				}
				b.ReportMetric(float64(first), "metadata-B-first")
				b.ReportMetric(float64(last), "metadata-B-last")
				b.ReportMetric(float64(last-first)/(commits-1), "metadata-B/commit")
				b.ReportMetric(float64(firstList), "manifest-list-B-first")
				b.ReportMetric(float64(lastList), "manifest-list-B-last")
			}
		})
	}
}
