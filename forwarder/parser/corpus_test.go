package parser

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const corpusFile = "testdata/apache_combined_10k.log"

func readLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

// TestApache2CorpusGolden parses the real corpus and compares every record
// (as sorted-key JSON) with the golden file; -update rewrites it.
func TestApache2CorpusGolden(t *testing.T) {
	lines := readLines(t, corpusFile)
	if len(lines) != 10000 {
		t.Fatalf("corpus has %d lines, want 10000", len(lines))
	}
	p := mustNew(t, Config{Type: TypeApache2})
	var out strings.Builder
	for _, line := range lines {
		rec, err := p.AppendRecord(nil, line, fixedNow)
		if err != nil {
			out.WriteString("ERROR " + err.Error() + "\n")
			continue
		}
		out.WriteString(toJSON(t, normalize(decodeOne(t, rec))) + "\n")
	}
	golden := filepath.Join("testdata", "apache_combined_10k.apache2.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	gotLines := strings.Split(out.String(), "\n")
	wantLines := strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("got %d records, golden has %d", len(gotLines), len(wantLines))
	}
	for i := range gotLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, gotLines[i], wantLines[i])
		}
	}
}

// TestHandParserMatchesRegexp checks, on every corpus line, that the hand
// parser's fields equal those of Fluentd's regexp field by field, and that
// the fast path (not the regexp fallback) handled nearly all of them.
func TestHandParserMatchesRegexp(t *testing.T) {
	lines := readLines(t, corpusFile)
	for _, typ := range []string{TypeApache2, TypeNginx} {
		t.Run(typ, func(t *testing.T) {
			p := mustNew(t, Config{Type: typ}).(*apacheParser)
			fastCount, unmatched := 0, 0
			for i, line := range lines {
				if typ == TypeNginx {
					// nginx lines: the corpus with a forwarded-for column.
					line = append(append([]byte(nil), line...), " 10.0.0.1"...)
				}
				var fast, slow spans
				okFast := p.fast(line, &fast)
				okSlow := p.slow(line, &slow)
				if okFast {
					fastCount++
					if !okSlow {
						t.Fatalf("line %d: hand parser matched, regexp did not: %s", i+1, line)
					}
					compareSpans(t, i+1, line, &fast, &slow)
				}
				if !okSlow {
					unmatched++
				}
			}
			t.Logf("%s: %d of %d lines on the hand-written path, %d match neither", typ, fastCount, len(lines), unmatched)
			// The corpus has one truncated line (8899) that Fluentd's
			// regexp rejects too; every other line must take the fast path.
			if unmatched != 1 || fastCount != len(lines)-1 {
				t.Errorf("fast path %d, unmatched %d; want %d and 1", fastCount, unmatched, len(lines)-1)
			}
		})
	}
}

func compareSpans(tb testing.TB, n int, line []byte, fast, slow *spans) {
	tb.Helper()
	if fast.present != slow.present {
		tb.Fatalf("line %d: groups present %b (hand) vs %b (regexp): %s", n, fast.present, slow.present, line)
	}
	for i := 0; i < nSpans; i++ {
		if fast.has(i) && !bytes.Equal(fast.v[i], slow.v[i]) {
			tb.Fatalf("line %d: %s = %q (hand) vs %q (regexp): %s", n, nginxNames[i], fast.v[i], slow.v[i], line)
		}
	}
}
