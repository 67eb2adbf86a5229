package tail

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/filter"
	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/forwarder/route"
)

// BenchmarkTailApache2 measures tail -> apache2 -> fsynced disk buffer on
// 100,000 real Apache combined lines per iteration.
func BenchmarkTailApache2(b *testing.B) {
	corpus, err := os.ReadFile(filepath.Join("testdata", "apache_combined_100.log"))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(corpus, 1000)
	lines := bytes.Count(data, []byte("\n"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		log := filepath.Join(dir, "access.log")
		if err := os.WriteFile(log, data, 0o644); err != nil {
			b.Fatal(err)
		}
		bc := buffer.DefaultConfig()
		bc.Dir = filepath.Join(dir, "buf")
		bc.ChunkLimit = 64 << 20
		if bc.Checkpoint, err = checkpoint.Open(bc.Dir); err != nil {
			b.Fatal(err)
		}
		buf, err := buffer.Open(bc)
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Name, cfg.Paths, cfg.Tag, cfg.PosFile = "td.web.access", []string{log}, "td.web.access", filepath.Join(dir, "pos.json")
		cfg.ReadFromHead, cfg.Parse = true, parser.Config{Type: parser.TypeApache2}
		tl, err := New(cfg, buf, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := tl.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s := tl.Stats(); s.Lines != uint64(lines) || s.ParseErrors != 0 {
			b.Fatalf("stats %+v, want %d lines", s, lines)
		}
		tl.Close()
		buf.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// BenchmarkTailApache2Routed is BenchmarkTailApache2 through the agent's
// intake (forwarder/route, no filters): the cost of routing on the hot path.
func BenchmarkTailApache2Routed(b *testing.B) {
	benchTailIntake(b, nil)
}

// BenchmarkTailApache2Filtered adds a record_transformer (add the host name,
// remove a field) and path_key: the cost of a typical filter.
func BenchmarkTailApache2Filtered(b *testing.B) {
	benchTailIntake(b, []filter.Config{{RecordTransformer: &filter.RecordTransformer{
		Add: map[string]string{"hostname": "${hostname}"}, Remove: []string{"agent"}}}})
}

func benchTailIntake(b *testing.B, fs []filter.Config) {
	corpus, err := os.ReadFile(filepath.Join("testdata", "apache_combined_100.log"))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(corpus, 1000)
	lines := bytes.Count(data, []byte("\n"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		log := filepath.Join(dir, "access.log")
		if err := os.WriteFile(log, data, 0o644); err != nil {
			b.Fatal(err)
		}
		bc := buffer.DefaultConfig()
		bc.Dir = filepath.Join(dir, "buf")
		bc.ChunkLimit = 64 << 20
		if bc.Checkpoint, err = checkpoint.Open(bc.Dir); err != nil {
			b.Fatal(err)
		}
		buf, err := buffer.Open(bc)
		if err != nil {
			b.Fatal(err)
		}
		r, err := route.New(route.Config{Routes: []route.Route{{Match: "web.**"}}})
		if err != nil {
			b.Fatal(err)
		}
		in, err := route.NewIntake(r, map[string]route.Buffer{route.DefaultOutput: buf})
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Name, cfg.Paths, cfg.Tag, cfg.PosFile = "web", []string{log}, "web.access", filepath.Join(dir, "pos.json")
		cfg.ReadFromHead, cfg.Parse = true, parser.Config{Type: parser.TypeApache2}
		if fs != nil {
			set, err := filter.New(fs, "bench-host")
			if err != nil {
				b.Fatal(err)
			}
			in.SetFilter(set)
			cfg.PathKey = "source_path"
		}
		tl, err := New(cfg, in, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := tl.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s := tl.Stats(); s.Lines != uint64(lines) || s.ParseErrors != 0 {
			b.Fatalf("stats %+v, want %d lines", s, lines)
		}
		if st := buf.Stats(); st.AppendedRecs != uint64(lines) {
			b.Fatalf("buffer holds %d records, want %d", st.AppendedRecs, lines)
		}
		tl.Close()
		buf.Close()
		b.StartTimer()
	}
}
