package config

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"1048576", 1 << 20, false},
		{"512k", 512 << 10, false},
		{"8m", 8 << 20, false},
		{"8M", 8 << 20, false},
		{"1g", 1 << 30, false},
		{"1.5g", 3 << 29, false},
		{"1GiB", 1 << 30, false},
		{"64mb", 64 << 20, false},
		{"2t", 2 << 40, false},
		{"8x", 0, true},
		{"", 0, true},
		{"m", 0, true},
		{"99999999999t", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// TestSizeUnitsEverywhere: every size key of the file takes a unit.
func TestSizeUnitsEverywhere(t *testing.T) {
	c, err := Parse([]byte(`
state_dir: /tmp/spw
sources:
  tail:
    - {path: ["/x"], tag: td.a_b.c_d, max_line_size: 512k, read_bytes: 64k, batch_bytes: 1m}
  http: {addr: "127.0.0.1:0", max_body_bytes: 32m, max_decompressed_bytes: 1g}
  forward: {addr: "127.0.0.1:0", max_message_bytes: 64m, max_decompressed_bytes: 256m}
buffer: {chunk_limit: 8m, total_limit: 1g}
output:
  primary: {url: "https://ingest.example.com", api_key: k}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tail := c.Sources.Tail[0]
	got := []int64{int64(tail.MaxLineSize), int64(tail.ReadBytes), int64(tail.BatchBytes), c.Sources.HTTP.MaxBodyBytes, c.Sources.HTTP.MaxDecompressedBytes,
		int64(c.Sources.Forward.MaxMessageBytes), c.Sources.Forward.MaxDecompressedBytes, c.Buffer.ChunkLimit, c.Buffer.TotalLimit}
	want := []int64{512 << 10, 64 << 10, 1 << 20, 32 << 20, 1 << 30, 64 << 20, 256 << 20, 8 << 20, 1 << 30}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sizes %v, want %v", got, want)
	}
}

// schemaKeys maps every key path of t (list items as []) to the field it
// names ("<struct type>.<key>"), so a field of a type used twice (the
// primary and standby endpoints) is shown once it is shown in one place.
func schemaKeys(t reflect.Type, path string, out map[string]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			path += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationType {
		return
	}
	for i := range t.NumField() {
		// An ",inline" struct's keys are named by their own type, so
		// outputs[] entries are shown once the output section shows them.
		if f := t.Field(i); f.IsExported() && strings.HasSuffix(f.Tag.Get("yaml"), ",inline") {
			schemaKeys(f.Type, path, out)
		}
	}
	for name, f := range yamlFields(t) {
		p := join(path, name)
		if _, done := out[p]; done {
			continue
		}
		out[p] = t.String() + "." + name
		schemaKeys(f.Type, p, out)
	}
}

// fileKeys lists every key path present in a YAML node (list items as []).
func fileKeys(n *yaml.Node, path string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			fileKeys(c, path, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			fileKeys(c, path+"[]", out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			out[p] = true
			fileKeys(n.Content[i+1], p, out)
		}
	}
}

// TestExampleShowsEveryKey fails when testdata/example.yaml omits a key of
// the configuration: a new field must be shown there, set or, for
// alternatives that cannot be set together, as a commented "# key:" line.
func TestExampleShowsEveryKey(t *testing.T) {
	schema := map[string]string{}
	schemaKeys(reflect.TypeFor[Config](), "", schema)
	data := mustRead(t, "testdata/example.yaml")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	file := map[string]bool{}
	fileKeys(&doc, "", file)
	shown := map[string]bool{}
	for p := range file {
		shown[schema[p]] = true
	}
	commented := regexp.MustCompile(`(?m)^\s*#\s*(\w+):|[{,]\s*(\w+):`)
	for _, m := range commented.FindAllStringSubmatch(string(data), -1) {
		shown["#"+m[1]+m[2]] = true
	}
	var missing []string
	for p, id := range schema {
		if !shown[id] && !shown["#"+id[strings.LastIndex(id, ".")+1:]] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("testdata/example.yaml omits %d keys:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
