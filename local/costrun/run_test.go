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
	"github.com/spillwayhq/spillway/local/cloud"
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

// TestLoadMeasurement: version 2 files load as written; version 1 files
// (one window at the top level, the corpus's own times) load as the
// backfill window; newer versions and files without events are refused.
func TestLoadMeasurement(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v2 := Measurement{Version: MeasurementVersion, Corpus: "c", Lines: 2, RawBytes: 10,
		Live:     &Window{Name: WindowLive, Events: 2, SealedPartitions: 1, Calls: []Call{{Service: "s3", Operation: "PutObject", Requests: 3}}},
		Backfill: &Window{Name: WindowBackfill, Events: 2, SealedPartitions: 2}}
	v2Path := filepath.Join(dir, "v2.json")
	if err := v2.WriteFile(v2Path); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantErr string
		want                Measurement
	}{
		{"version 2", v2Path, "", v2},
		{"version 1", write("v1.json", `{"corpus":"c","lines":2,"events":2,"raw_bytes":10,"tables":1,"sealed_objects":3,
			"replay":{"functions":{"flush":{"memory_mb":1024,"invocations":1,"billed_ms":5}}},"calls":[{"service":"s3","operation":"PutObject","requests":3}]}`), "",
			Measurement{Version: 1, Corpus: "c", Lines: 2, RawBytes: 10, Backfill: &Window{Name: WindowBackfill, Events: 2, Tables: 1, SealedObjects: 3,
				Replay: Usage{Functions: map[string]FunctionUsage{"flush": {MemoryMB: 1024, Invocations: 1, BilledMs: 5}}},
				Calls:  []Call{{Service: "s3", Operation: "PutObject", Requests: 3}}}}},
		{"newer", write("v9.json", `{"version":9,"raw_bytes":10}`), "version 9", Measurement{}},
		{"no events", write("empty.json", `{"version":2,"raw_bytes":10,"live":{"name":"live"}}`), "no events in the live window", Measurement{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadMeasurement(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadMeasurement: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("loaded %+v\nwant %+v", got, tc.want)
			}
			if got.Headline() == nil || (got.Live == nil && got.Headline() != got.Backfill) {
				t.Errorf("headline %+v", got.Headline())
			}
		})
	}
}

// TestResourceRole: the edge's resources named by their role in the
// deployment, the lake's Iceberg files apart from data/.
func TestResourceRole(t *testing.T) {
	o := cloud.Outputs{Bucket: "logs", CatalogTable: "cat", LedgerTable: "led", ManifestTable: "man", LakeWarehouse: "s3://logs/lake"}
	tests := []struct{ service, res, want string }{
		{"s3", "logs/staged/", "staged"},
		{"s3", "logs/data/", "data"},
		{"s3", "logs/manifests/", "manifests"},
		{"s3", "logs/lake/*/metadata/", ResourceLakeMetadata},
		{"s3", "logs/lake/*/data/", ResourceLakeData},
		{"s3", "logs/", ""},
		{"s3", "other/data/", "other/data/"},
		{"dynamodb", "man/staged", "manifests/staged"},
		{"dynamodb", "man/manifest+man/staged", "manifests/manifest+manifests/staged"},
		{"dynamodb", "cat", "catalog"},
		{"dynamodb", "led", "ledger"},
		{"glue", "", ""},
	}
	for _, tc := range tests {
		if got := resourceRole(o, tc.service, tc.res); got != tc.want {
			t.Errorf("resourceRole(%s, %q) = %q, want %q", tc.service, tc.res, got, tc.want)
		}
	}
}
