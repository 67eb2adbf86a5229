package convert

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/parser"
)

var update = flag.Bool("update", false, "rewrite the golden .yaml files in testdata")

// TestDocumentedConfigs converts the td-agent configurations of TD's and
// Fluentd's documentation (testdata/*.conf, sources in their headers),
// compares with the golden YAML, checks the exit status and that the YAML
// passes the forwarder's own validation (what --check runs).
func TestDocumentedConfigs(t *testing.T) {
	tests := []struct {
		file string
		exit int
		// omitted are texts each omission list must mention.
		omitted []string
	}{
		{"td_apache.conf", ExitOK, nil},
		{"td_csv_tsv_ltsv.conf", ExitOK, nil},
		{"td_json.conf", ExitOK, nil},
		{"td_agent2_default.conf", ExitOmissions, []string{"<secondary>", "@type stdout", "@type debug_agent"}},
		{"td_agent3_default.conf", ExitOmissions, []string{"<secondary>", "@type stdout", "@type debug_agent"}},
		{"td_copy.conf", ExitOmissions, []string{"<store> @type file"}},
		{"fluentd_ha_forwarder_v012.conf", ExitOK, nil},
		{"fluentd_ha_forwarder_v1.conf", ExitOK, nil},
		{"fluentd_forward_options.conf", ExitOmissions, []string{"<secondary> @type file"}},
		{"fluentd_in_tail.conf", ExitOK, nil},
		{"fluentd_secure_forward.conf", ExitOK, nil},
		{"fluentd_filters.conf", ExitOK, nil},
		{"fluentd_routes.conf", ExitOK, nil},
		{"fluentd_multiline.conf", ExitOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := filepath.Join("testdata", tc.file)
			golden := strings.TrimSuffix(in, ".conf") + ".yaml"
			out := filepath.Join(t.TempDir(), "out.yaml")
			var stdout, stderr bytes.Buffer
			if got := Main([]string{"-o", out, in}, &stdout, &stderr); got != tc.exit {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.exit, stderr.String())
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", golden, got)
			}
			if _, err := config.Parse(got); err != nil {
				t.Errorf("converted YAML fails validation:\n%v\n%s", err, got)
			}
			for _, o := range tc.omitted {
				if !strings.Contains(stderr.String(), o) {
					t.Errorf("stderr does not report %q:\n%s", o, stderr.String())
				}
			}
			if n := strings.Count(string(got), "# not carried over"); n != strings.Count(stderr.String(), "not carried over:") {
				t.Errorf("%d omissions in the YAML comments, stderr lists %d", n, strings.Count(stderr.String(), "not carried over:"))
			}
		})
	}
}

// TestMainErrors checks exit status 2 and that nothing is written.
func TestMainErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("<source>\n  @type tail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no argument", nil, "usage"},
		{"missing file", []string{filepath.Join(dir, "nope.conf")}, "no such file"},
		{"unclosed section", []string{bad}, "never closed"},
		{"unknown flag", []string{"-x", bad}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out.yaml")
			var stdout, stderr bytes.Buffer
			if got := Main(append([]string{"-o", out}, tc.args...), &stdout, &stderr); got != ExitError {
				t.Errorf("exit %d, want %d", got, ExitError)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output written on error: %v", err)
			}
		})
	}
}

// TestMainStdout writes to standard output without -o.
func TestMainStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := Main([]string{filepath.Join("testdata", "td_json.conf")}, &stdout, &stderr); got != ExitOK {
		t.Fatalf("exit %d: %s", got, stderr.String())
	}
	if !strings.Contains(stdout.String(), "tag: td.production.foo") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// TestDuplicateTailTags: two tail sources with one tag get distinct names
// (the name keys the position file), so the YAML passes validation.
func TestDuplicateTailTags(t *testing.T) {
	in := "<source>\n type tail\n path /a.log\n tag td.db1.tbl\n format none\n</source>\n" +
		"<source>\n type tail\n path /b.log\n tag td.db1.tbl\n format none\n</source>\n" +
		"<match td.*.*>\n type tdlog\n apikey k\n</match>\n"
	root, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(root, "dup.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(res.YAML); err != nil {
		t.Errorf("validation: %v\n%s", err, res.YAML)
	}
}

// TestMainInvalidResult: a configuration whose every source is skipped is
// written, and the exit status says it needs editing.
func TestMainInvalidResult(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "td-agent.conf")
	if err := os.WriteFile(in, []byte("<source>\n @type syslog\n</source>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if got := Main([]string{in}, &stdout, &stderr); got != ExitOmissions {
		t.Errorf("exit %d, want %d", got, ExitOmissions)
	}
	if !strings.Contains(stderr.String(), "does not pass --check") || !strings.Contains(stdout.String(), "@type syslog") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// TestMultilineJava: the converted Java stack trace example parses a
// joined event as Fluentd's multiline parser does (message spans lines).
func TestMultilineJava(t *testing.T) {
	res, err := File(filepath.Join("testdata", "fluentd_multiline.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(res.YAML)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Sources.Tail[0]
	ml := regexp.MustCompile(tc.MultilineStart)
	first := "2013-03-03 14:27:33 [main] ERROR Main - Exception"
	next := "javax.management.RuntimeErrorException: null"
	if !ml.MatchString(first) || ml.MatchString(next) {
		t.Fatalf("multiline_start %q: first line %v, continuation %v", tc.MultilineStart, ml.MatchString(first), ml.MatchString(next))
	}
	p, err := parser.New(tc.Parse)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := p.AppendRecord(nil, []byte(first+"\n"+next), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	if m["thread"] != "main" || m["level"] != "ERROR" || m["message"] != " Main - Exception\n"+next {
		t.Errorf("record %v", m)
	}
}

// TestFilterOmissions checks that filters the forwarder cannot run as
// td-agent did are skipped with a remark, and that the rest validates.
func TestFilterOmissions(t *testing.T) {
	conf := `<source>
  @type forward
</source>
<filter a.**>
  @type grep
  <regexp>
    key message
    pattern /cool/i
  </regexp>
</filter>
<filter a.**>
  @type record_transformer
  <record>
    x ${record["y"]}
  </record>
</filter>
<filter a.**>
  @type grep
  <and>
    <regexp>
      key a
      pattern b
    </regexp>
  </and>
</filter>
<filter a.**>
  @type record_transformer
  remove_keys k
  <record>
    k v
    h ${hostname}
  </record>
</filter>
<match a.**>
  @type tdlog
  apikey "#{ENV['K']}"
</match>
`
	root, err := Parse([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(root, "f.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Omissions) != 3 {
		t.Errorf("%d omissions, want 3 (flags, record placeholder, <and>): %+v", len(res.Omissions), res.Omissions)
	}
	cfg, err := config.Parse(res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	if len(cfg.Filters) != 1 || cfg.Filters[0].RecordTransformer == nil {
		t.Fatalf("filters %+v, want the last record_transformer only", cfg.Filters)
	}
	rt := cfg.Filters[0].RecordTransformer
	if _, ok := rt.Add["k"]; ok || rt.Add["h"] != "${hostname}" || len(rt.Remove) != 1 {
		t.Errorf("record_transformer %+v: k removed after adding as in Fluentd, h added", rt)
	}
	if len(cfg.Routes) != 1 || cfg.Routes[0].Match != "a.**" {
		t.Errorf("routes %+v", cfg.Routes)
	}
}
