package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// records encodes maps (string, int64 and bool values) as concatenated
// msgpack maps.
func records(tb testing.TB, ms ...map[string]any) []byte {
	tb.Helper()
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = msgp.AppendIntf(b, m); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

func decode(tb testing.TB, b []byte) []map[string]any {
	tb.Helper()
	ms, err := tdrecord.Decode(b, tdrecord.DefaultLimits())
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

func TestApply(t *testing.T) {
	in := []map[string]any{
		{"time": int64(1), "status": int64(200), "path": "/a", "password": "x", "msg": "ok"},
		{"time": int64(2), "status": int64(503), "path": "/health", "msg": "down"},
		{"time": int64(3), "status": int64(500), "path": "/b", "msg": "err"},
	}
	tests := []struct {
		name    string
		cfg     []Config
		tag     string
		want    []map[string]any
		dropped uint64
	}{
		{"add with placeholders", []Config{{RecordTransformer: &RecordTransformer{Add: map[string]string{
			"host": "${hostname}", "src": "${tag}", "svc": "${tag_parts[1]}", "last": "${tag_parts[-1]}", "none": "x${tag_parts[9]}y"}}}},
			"app.web.access", []map[string]any{
				{"time": int64(1), "status": int64(200), "path": "/a", "password": "x", "msg": "ok", "host": "h1", "src": "app.web.access", "svc": "web", "last": "access", "none": "xy"},
				{"time": int64(2), "status": int64(503), "path": "/health", "msg": "down", "host": "h1", "src": "app.web.access", "svc": "web", "last": "access", "none": "xy"},
				{"time": int64(3), "status": int64(500), "path": "/b", "msg": "err", "host": "h1", "src": "app.web.access", "svc": "web", "last": "access", "none": "xy"},
			}, 0},
		{"remove, rename, add overwrites", []Config{{RecordTransformer: &RecordTransformer{Remove: []string{"password"},
			Rename: map[string]string{"msg": "message"}, Add: map[string]string{"path": "/redacted"}}}},
			"app.access", []map[string]any{
				{"time": int64(1), "status": int64(200), "path": "/redacted", "message": "ok"},
				{"time": int64(2), "status": int64(503), "path": "/redacted", "message": "down"},
				{"time": int64(3), "status": int64(500), "path": "/redacted", "message": "err"},
			}, 0},
		{"rename onto an existing field replaces it", []Config{{RecordTransformer: &RecordTransformer{Rename: map[string]string{"msg": "path"}}}},
			"app.access", []map[string]any{
				{"time": int64(1), "status": int64(200), "path": "ok", "password": "x"},
				{"time": int64(2), "status": int64(503), "path": "down"},
				{"time": int64(3), "status": int64(500), "path": "err"},
			}, 0},
		{"grep include on a number, exclude", []Config{{Grep: &Grep{
			Include: []Rule{{Key: "status", Pattern: "^5"}}, Exclude: []Rule{{Key: "path", Pattern: "^/health"}}}}},
			"app.access", []map[string]any{in[2]}, 2},
		{"grep include on a missing field drops", []Config{{Grep: &Grep{Include: []Rule{{Key: "nope", Pattern: ""}}}}},
			"app.access", nil, 3},
		{"filters in order, match selects", []Config{
			{Match: "web.**", RecordTransformer: &RecordTransformer{Add: map[string]string{"web": "1"}}},
			{Match: "app.**", Grep: &Grep{Exclude: []Rule{{Key: "msg", Pattern: "ok|down"}}}},
			{Match: "app.*", RecordTransformer: &RecordTransformer{Rename: map[string]string{"msg": "m"}}},
		}, "app.access", []map[string]any{{"time": int64(3), "status": int64(500), "path": "/b", "m": "err"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, "h1")
			if err != nil {
				t.Fatal(err)
			}
			c := s.For(tt.tag)
			if c == nil {
				t.Fatal("no chain")
			}
			out, n, err := c.Apply(nil, records(t, in...), len(in))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.want) {
				t.Fatalf("kept %d, want %d", n, len(tt.want))
			}
			got := decode(t, out)
			if len(tt.want) > 0 && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
			for i, rest := 0, out; i < n; i++ { // no key twice (a decoded map would hide it)
				keys, r, err := msgp.ReadMapHeaderBytes(rest)
				if err != nil {
					t.Fatal(err)
				}
				if int(keys) != len(got[i]) {
					t.Fatalf("record %d has %d keys, %d distinct", i, keys, len(got[i]))
				}
				for range 2 * keys {
					if r, err = msgp.Skip(r); err != nil {
						t.Fatal(err)
					}
				}
				rest = r
			}
			if d := s.Stats().Dropped; d != tt.dropped {
				t.Fatalf("dropped %d, want %d", d, tt.dropped)
			}
		})
	}
}

func TestForNoMatch(t *testing.T) {
	s, err := New([]Config{{Match: "web.**", Grep: &Grep{Include: []Rule{{Key: "a", Pattern: "b"}}}}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.For("app.access"); c != nil {
		t.Fatalf("chain %+v for a tag no filter matches", c)
	}
	if s, err := New(nil, "h"); s != nil || err != nil {
		t.Fatalf("New(nil) = %v, %v; want nil, nil", s, err)
	}
	var none *Set
	if none.For("x") != nil {
		t.Fatal("nil Set has a chain")
	}
}

func TestValidate(t *testing.T) {
	err := Validate([]Config{
		{Match: "{a"},
		{RecordTransformer: &RecordTransformer{Remove: []string{"time"}, Add: map[string]string{"a": "${record}"}}, Grep: &Grep{}},
		{RecordTransformer: &RecordTransformer{Rename: map[string]string{"time": "t"}, Add: map[string]string{"a": "${nope}"}}},
		{Grep: &Grep{Include: []Rule{{Key: "", Pattern: "("}}}},
		{Grep: &Grep{}},
	})
	for _, want := range []string{"filters[0].match", "filters[0]: set exactly one", "filters[1]: set exactly one",
		"filters[2].record_transformer.rename", "filters[2].record_transformer.add.a: unknown placeholder ${nope}",
		"filters[3].grep.include[0].pattern", "filters[3].grep.include[0].key", "filters[4].grep: no include or exclude"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem naming %q", err, want)
		}
	}
}

func TestAppendFields(t *testing.T) {
	big := map[string]any{"time": int64(1)}
	for i := range 14 {
		big[string(rune('a'+i))] = int64(i)
	}
	for _, m := range []map[string]any{{"time": int64(1), "a": "b"}, big} {
		prefix := records(t, map[string]any{"time": int64(0)})
		b := append(prefix, records(t, m)...)
		out, err := AppendFields(b, len(prefix), "path", "/var/log/x", "host", "h1")
		if err != nil {
			t.Fatal(err)
		}
		got := decode(t, out)
		want := map[string]any{"path": "/var/log/x", "host": "h1"}
		for k, v := range m {
			want[k] = v
		}
		if len(got) != 2 || fmt.Sprint(got[1]) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	s, err := New([]Config{{RecordTransformer: &RecordTransformer{Add: map[string]string{"host": "${hostname}"}, Remove: []string{"password"}}}}, "h1")
	if err != nil {
		b.Fatal(err)
	}
	rec := records(b, map[string]any{"time": int64(1), "status": int64(200), "path": "/a", "password": "x", "msg": "ok", "agent": "Mozilla/5.0"})
	var in []byte
	for range 1000 {
		in = append(in, rec...)
	}
	c := s.For("app.access")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	var out []byte
	for b.Loop() {
		if out, _, err = c.Apply(out[:0], in, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
