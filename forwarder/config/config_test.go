package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/parser"
)

const minimal = `
state_dir: /tmp/spw
sources:
  tail:
    - path: ["/var/log/apache2/access.log"]
      tag: td.web.access
      parse: {type: apache2}
output:
  primary: {url: "https://ingest.example.com", api_key_env: TD_API_KEY}
`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"minimal", minimal, nil},
		{"unknown key", minimal + "bogus: 1\n", []string{"bogus: unknown key"}},
		{"unknown nested key", strings.Replace(minimal, "tag: td.web.access", "tag: td.web.access\n      colour: red", 1), []string{"sources.tail[0].colour: unknown key"}},
		{"typo suggests the nearest key", minimal + "buffer: {flush_intreval: 5s}\n", []string{"buffer.flush_intreval: unknown key (did you mean flush_interval?)"}},
		{"typo in a list item", strings.Replace(minimal, "tag: td.web.access", "tag: td.web.access\n      read_from_had: true", 1), []string{"sources.tail[0].read_from_had: unknown key (did you mean read_from_head?)"}},
		{"bad size", minimal + "buffer: {chunk_limit: 8x}\n", []string{`buffer.chunk_limit: "8x" is not a size`}},
		{"bad duration", minimal + "buffer: {flush_interval: soon}\n", []string{`buffer.flush_interval: "soon" is not a duration`}},
		{"bad number", minimal + "output: {concurrency: two}\n", []string{`output.concurrency: "two" is not a whole number`}},
		{"bad bool", minimal + "monitor: {disabled: maybe}\n", []string{`monitor.disabled: "maybe" is not true or false`}},
		{"list where a value is wanted", minimal + "state_dir: [a]\n", []string{"state_dir: want a single value"}},
		{"bad log format", minimal + "log: {format: xml}\n", []string{`log.format: "xml" is not json or text`}},
		{"every error at once", `
log: {level: loud}
buffer: {overflow: spill}
sources:
  tail:
    - path: ["/x"]
      tag: bad
output:
  primary: {url: "ftp://x"}
shutdown_timeout: -1s
`, []string{"log.level:", "buffer.overflow:", "sources.tail[0].tag:", "output.primary.url:", "output.primary: set exactly one", "shutdown_timeout:"}},
		{"parser errors carry their path", strings.Replace(minimal, "parse: {type: apache2}", "parse: {type: csv, timezone: Mars/Base}", 1),
			[]string{"sources.tail[0].parse.keys: required for csv", "sources.tail[0].parse.timezone:"}},
		{"routed tail tag", strings.Replace(minimal, "tag: td.web.access", "tag: app.access", 1) + "routes: [{match: \"app.**\"}]\n", nil},
		{"tail tag from path", strings.Replace(minimal, "tag: td.web.access", "tag: app.*", 1), nil},
		{"tail tag kept by default_table", strings.Replace(minimal, "tag: td.web.access", "tag: app", 1) + "default_table: misc.other\n", nil},
		{"route errors", strings.Replace(minimal, "tag: td.web.access", "tag: app.access", 1) + `
routes:
  - {match: "{web", db: x}
  - {match: "web.*", output: [archive]}
default_table: nodot
`, []string{"routes[0].match:", "routes[0]: set both db and table", `routes[1].output: no output named "archive"`, "default_table:"}},
		{"no source", "output:\n  primary: {url: \"http://127.0.0.1:1\", api_key: k}\n", []string{"sources: no source"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, goName := range []string{"config.", "int64", "time.Duration", "tail.Config", "string into"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error %q names a Go type (%s)", err, goName)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Buffer.Dir != "/tmp/spw/buffer" || c.Sources.Tail[0].PosFile != "/tmp/spw/pos/td.web.access.json" ||
		c.Monitor.Addr != "127.0.0.1:24220" || c.ShutdownTimeout != 30*time.Second || c.Buffer.SealInterval != 10*time.Second ||
		c.Output.Concurrency != 2 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources.Tail) != 4 || c.Output.Standby == nil || c.Sources.HTTP == nil || c.Sources.Forward == nil {
		t.Fatalf("example decoded to %+v", c)
	}
}

// TestParseFillsDefaultConfig: what a file leaves out comes from
// DefaultConfig, the one place the forwarder's defaults are written.
func TestParseFillsDefaultConfig(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	d.StateDir = "/tmp/spw"
	d.Buffer.Dir = "/tmp/spw/buffer"
	d.Output.Primary = c.Output.Primary
	tests := []struct {
		name      string
		got, want any
	}{
		{"log", c.Log, d.Log},
		{"buffer", c.Buffer, d.Buffer},
		{"monitor", c.Monitor, d.Monitor},
		{"shutdown_timeout", c.ShutdownTimeout, d.ShutdownTimeout},
		{"output.concurrency", c.Output.Concurrency, d.Output.Concurrency},
		{"output.max_backoff", c.Output.MaxBackoff, d.Output.MaxBackoff},
		{"output.compression", c.Output.Compression, d.Output.Compression},
		{"output.failover_after", c.Output.FailoverAfter, d.Output.FailoverAfter},
		{"sources.tail[0].parse.time_key", c.Sources.Tail[0].Parse.TimeKey, parser.DefaultConfig().TimeKey},
		{"sources.tail[0].parse.message_key", c.Sources.Tail[0].Parse.MessageKey, parser.DefaultConfig().MessageKey},
		{"sources.tail[0].parse.label_delimiter", c.Sources.Tail[0].Parse.LabelDelimiter, parser.DefaultConfig().LabelDelimiter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %+v, want %+v", tc.got, tc.want)
			}
		})
	}
}
