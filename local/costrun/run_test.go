package costrun

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	fwdconfig "github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/parser"
)

// TestCorpusStats: lines and bytes as read, and each line (with its
// newline) rounded up to 5 KB as Firehose bills one record per line.
func TestCorpusStats(t *testing.T) {
	tests := []struct {
		name                 string
		data                 string
		lines, raw, firehose int64
	}{
		{"empty", "", 0, 0, 0},
		{"two short lines", "abc\nde\n", 2, 7, 2 * 5120},
		{"no final newline", "abc\nde", 2, 6, 2 * 5120},
		{"a line of 5,120 bytes with its newline", strings.Repeat("x", 5119) + "\n", 1, 5120, 5120},
		{"a line of 5,121 bytes", strings.Repeat("x", 5120) + "\n", 1, 5121, 10240},
		{"a line longer than the read buffer", strings.Repeat("y", 3<<20) + "\nz\n", 2, 3<<20 + 3, (3<<20+1+5119)/5120*5120 + 5120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "corpus.log")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			var m Measurement
			if err := corpusStats(path, &m); err != nil {
				t.Fatal(err)
			}
			if m.Lines != tc.lines || m.RawBytes != tc.raw || m.FirehoseRecordBytes != tc.firehose {
				t.Errorf("lines %d, bytes %d, Firehose bytes %d; want %d, %d, %d", m.Lines, m.RawBytes, m.FirehoseRecordBytes, tc.lines, tc.raw, tc.firehose)
			}
		})
	}
}

// TestLiveForwarderConfig: with the live configuration and corpus, every
// event is timed by the replay clock (apache2: the time LiveCorpus wrote
// into the line; other parsers: the time the line is read) and keeps every
// other field; the backfill's take the line's own time. Both from the
// default configuration (apache2) and from a user's regexp parser.
func TestLiveForwarderConfig(t *testing.T) {
	const line = `127.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 7 "-" "curl"`
	now := time.Date(2026, 12, 7, 19, 30, 0, 0, time.UTC)
	own := time.Date(2015, 5, 17, 10, 5, 3, 0, time.UTC).Unix()
	user := `sources:
  tail:
    - name: web
      path: ["/var/log/a.log"]
      tag: td.www.access
      parse: {type: regexp, expression: '^(?<host>\S+) \S+ \S+ \[(?<time>[^\]]+)\] "(?<req>[^"]*)" (?<code>\d+)', time_format: "%d/%b/%Y:%H:%M:%S %z", keep_time_key: true}
output:
  primary: {url: https://ingest.example.com, api_key_file: /etc/spillway/apikey}
`
	for _, tc := range []struct{ name, cfg string }{{"default", DefaultForwarderConfig}, {"user regexp", user}} {
		t.Run(tc.name, func(t *testing.T) {
			live, err := LiveForwarderConfig([]byte(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "corpus.log"), filepath.Join(dir, "live.log")
			if err := os.WriteFile(src, []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			liveLine := line
			wrote, err := LiveCorpus(src, dst, []byte(tc.cfg), now)
			if err != nil {
				t.Fatal(err)
			}
			if wrote {
				b, err := os.ReadFile(dst)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != len(line)+1 {
					t.Errorf("live corpus %q: want the same length as %q", b, line)
				}
				liveLine = strings.TrimSuffix(string(b), "\n")
			}
			// The parser reads 1 s after the copy was written.
			backfill := parse(t, []byte(tc.cfg), line, now.Add(time.Second))
			got := parse(t, live, liveLine, now.Add(time.Second))
			if backfill["time"] != own || (got["time"] != now.Unix() && got["time"] != now.Unix()+1) {
				t.Errorf("time: backfill %v, live %v; want %d and the replay clock %d", backfill["time"], got["time"], own, now.Unix())
			}
			delete(backfill, "time")
			delete(got, "time")
			if !reflect.DeepEqual(got, backfill) || len(got) < 2 {
				t.Errorf("live record %v, backfill record %v: want the same fields", got, backfill)
			}
		})
	}
	if _, err := LiveForwarderConfig([]byte("output: {primary: {url: https://x}}\n")); err == nil {
		t.Error("a configuration without tail sources: no error")
	}
}

// parse parses line with the first tail parser of a forwarder config.
func parse(t *testing.T, cfg []byte, line string, now time.Time) map[string]any {
	t.Helper()
	c, err := fwdconfig.Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parser.New(c.Sources.Tail[0].Parse)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.AppendRecord(nil, []byte(line), now)
	if err != nil {
		t.Fatal(err)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.UseLooseInterfaceDecoding(true) // integers as int64 or uint64
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if u, ok := rec["time"].(uint64); ok {
		rec["time"] = int64(u)
	}
	return rec
}
