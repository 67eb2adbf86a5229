package replay

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/parser"
)

func TestReplayConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/forwarder.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	corpus100, err := filepath.Abs("../../forwarder/agent/testdata/apache_combined_100.log")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		logs      []string
		wantPaths []string
		wantErr   string
	}{
		{name: "config paths resolved from its dir", wantPaths: []string{filepath.Join(base, "../../testdata/apache_combined_10k.log")}},
		{name: "glob replaces them", logs: []string{"../../forwarder/agent/testdata/*.log"}, wantPaths: []string{filepath.Join(filepath.Dir(corpus100), "*.log")}},
		{name: "named", logs: []string{"apache_access=" + corpus100}, wantPaths: []string{corpus100}},
		{name: "unknown name and no match", logs: []string{"nope=" + corpus100, "/nonexistent/*.log"},
			wantErr: `-logs nope=` + corpus100 + `: no tail source named "nope"` + "\n-logs /nonexistent/*.log: matches no file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg, err := ReplayConfig(data, base, tc.logs, state, "http://127.0.0.1:1", "127.0.0.1:2")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tl := cfg.Sources.Tail[0]
			if strings.Join(tl.Paths, ",") != strings.Join(tc.wantPaths, ",") || !tl.ReadFromHead || tl.PosFile != filepath.Join(state, "state", "pos", "apache_access.json") {
				t.Errorf("tail %+v", tl)
			}
			if cfg.Output.Primary.URL != "http://127.0.0.1:1" || cfg.Output.Primary.APIKeyEnv != apiKeyEnv || cfg.Output.Primary.APIKeyFile != "" || cfg.Output.Standby != nil {
				t.Errorf("output %+v", cfg.Output)
			}
			if cfg.Monitor.Addr != "127.0.0.1:2" || cfg.Buffer.Dir != filepath.Join(state, "state", "buffer") || cfg.Log.File != filepath.Join(state, "forwarder.log") {
				t.Errorf("monitor %+v buffer dir %s log %+v", cfg.Monitor, cfg.Buffer.Dir, cfg.Log)
			}
			if tl.Parse.Type != "regexp" || tl.Parse.Types != "code:integer,size:integer" || cfg.Buffer.SealInterval != time.Second {
				t.Errorf("user settings not kept: parse %+v seal %s", tl.Parse, cfg.Buffer.SealInterval)
			}
		})
	}
	if _, _, err := ReplayConfig([]byte("sources: {tail: [{tag: td.a.b, path: [x], parse: {type: regexp, expression: '('}}]}\n"), base, nil, state, "http://x", "127.0.0.1:2"); err == nil || !strings.Contains(err.Error(), "forwarder config") {
		t.Errorf("invalid regexp: %v", err)
	}
}

// TestTestdataParsers checks what the e2e replays rely on, with the
// forwarder's parser directly: the sample config's regexp leaves only the
// corpus's truncated line unmatched, the broken one matches nothing.
func TestTestdataParsers(t *testing.T) {
	tests := []struct {
		config, corpus string
		lines, unmatch int
	}{
		{"testdata/forwarder.yaml", "../testdata/apache_combined_10k.log", 10000, 1},
		{"testdata/forwarder-broken.yaml", "../../forwarder/agent/testdata/apache_combined_100.log", 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			data, err := os.ReadFile(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			_, cfg, err := ReplayConfig(data, "testdata", nil, t.TempDir(), "http://x", "127.0.0.1:2")
			if err != nil {
				t.Fatal(err)
			}
			p, err := parser.New(cfg.Sources.Tail[0].Parse)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(tc.corpus)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			lines, unmatched := 0, 0
			for sc.Scan() {
				lines++
				if _, err := p.AppendRecord(nil, sc.Bytes(), time.Now()); errors.Is(err, parser.ErrNoMatch) {
					unmatched++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if lines != tc.lines || unmatched != tc.unmatch {
				t.Errorf("%d lines, %d unmatched; want %d, %d", lines, unmatched, tc.lines, tc.unmatch)
			}
		})
	}
}
