package parser

import (
	"testing"
	"time"
)

// benchLines runs p over the corpus, one line per op: ns/op is ns/line and
// MB/s is parse-only throughput.
func benchLines(b *testing.B, p Parser, lines [][]byte) {
	b.Helper()
	total := 0
	for _, l := range lines {
		total += len(l) + 1
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	dst := make([]byte, 0, 64<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(dst) > 60<<10 {
			dst = dst[:0]
		}
		dst, _ = p.AppendRecord(dst, lines[i%len(lines)], fixedNow)
	}
}

func BenchmarkApache2(b *testing.B) {
	benchLines(b, mustNew(b, Config{Type: TypeApache2}), readLines(b, corpusFile))
}

// BenchmarkApache2Regexp is the same work through Fluentd's regexp only.
func BenchmarkApache2Regexp(b *testing.B) {
	p := mustNew(b, Config{Type: TypeApache2}).(*apacheParser)
	lines := readLines(b, corpusFile)
	regexpOnly := parserFunc(func(dst, line []byte) ([]byte, error) {
		var sp spans
		if !p.slow(line, &sp) {
			return dst, ErrNoMatch
		}
		return p.appendApache2(dst, &sp)
	})
	benchLines(b, regexpOnly, lines)
}

func BenchmarkNginx(b *testing.B) {
	lines := readLines(b, corpusFile)
	for i := range lines {
		lines[i] = append(lines[i], " 10.1.2.3"...)
	}
	benchLines(b, mustNew(b, Config{Type: TypeNginx}), lines)
}

func BenchmarkJSON(b *testing.B) {
	lines := [][]byte{[]byte(`{"time":1362020400,"host":"192.168.0.1","method":"GET","path":"/x?y=z","code":200,"size":777,"agent":"Mozilla/5.0 (X11; Linux x86_64)"}`)}
	benchLines(b, mustNew(b, Config{Type: TypeJSON}), lines)
}

type parserFunc func(dst, line []byte) ([]byte, error)

func (f parserFunc) AppendRecord(dst, line []byte, _ time.Time) ([]byte, error) {
	return f(dst, line)
}
