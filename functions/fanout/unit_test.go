package fanout

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func mp(tb testing.TB, vs ...any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	for _, v := range vs {
		b, err := msgpack.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

func TestWiden(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"", TypeLong, TypeLong},
		{TypeLong, "", TypeLong},
		{TypeLong, TypeLong, TypeLong},
		{TypeLong, TypeDouble, TypeDouble},
		{TypeDouble, TypeLong, TypeDouble},
		{TypeLong, TypeString, TypeString},
		{TypeBoolean, TypeLong, TypeString},
		{TypeMap, TypeArray, TypeString},
		{TypeString, TypeBinary, TypeString},
	}
	for _, c := range cases {
		t.Run(c.a+"+"+c.b, func(t *testing.T) {
			if got := Widen(c.a, c.b); got != c.want {
				t.Errorf("Widen(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
			}
		})
	}
}

func TestSchemaMerge(t *testing.T) {
	s := Schema{"a": TypeLong, "b": TypeString}
	if s.Merge(Schema{"a": TypeLong}) {
		t.Error("merge of a subset reported a change")
	}
	if !s.Merge(Schema{"a": TypeDouble, "c": TypeMap}) {
		t.Error("merge of a wider schema reported no change")
	}
	if s["a"] != TypeDouble || s["c"] != TypeMap || s["b"] != TypeString {
		t.Errorf("schema = %v", s)
	}
}

func TestDecodeStream(t *testing.T) {
	cases := []struct {
		name      string
		raw       []byte
		wantTimes []int64
		wantTypes Schema
		wantErr   bool
	}{
		{"types", mp(t,
			map[string]any{"time": 10, "s": "x", "l": 1, "d": 1.5, "b": true, "bin": []byte{1}, "arr": []any{1}, "m": map[string]any{"k": 1}, "nil": nil},
			map[string]any{"time": uint32(11), "l": 2.5, "s": 3},
		), []int64{10, 11}, Schema{"s": TypeString, "l": TypeDouble, "d": TypeDouble, "b": TypeBoolean, "bin": TypeBinary, "arr": TypeArray, "m": TypeMap}, false},
		{"empty stream", nil, nil, Schema{}, false},
		{"no time", mp(t, map[string]any{"a": 1}), nil, nil, true},
		{"string time", mp(t, map[string]any{"time": "10"}), nil, nil, true},
		{"float time", mp(t, map[string]any{"time": 1.5}), nil, nil, true},
		{"not a map", mp(t, []any{1, 2}), nil, nil, true},
		{"truncated", mp(t, map[string]any{"time": 10, "msg": "hello"})[:8], nil, nil, true},
		{"non-string key", mp(t, map[int]any{1: 2}), nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, schema, err := DecodeStream(c.raw)
			if c.wantErr {
				if !errors.Is(err, ErrBadPayload) {
					t.Fatalf("err = %v, want ErrBadPayload", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var times []int64
			var joined []byte
			for _, e := range evs {
				times = append(times, e.Time)
				joined = append(joined, e.Raw...)
			}
			if !equalInts(times, c.wantTimes) {
				t.Errorf("times = %v, want %v", times, c.wantTimes)
			}
			if !bytes.Equal(joined, c.raw) {
				t.Error("raw event bytes do not re-join to the input")
			}
			if len(schema) != len(c.wantTypes) {
				t.Errorf("schema = %v, want %v", schema, c.wantTypes)
			}
			for k, v := range c.wantTypes {
				if schema[k] != v {
					t.Errorf("schema[%s] = %q, want %q", k, schema[k], v)
				}
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSplitGroups(t *testing.T) {
	raw := mp(t, map[string]any{"time": hourT + 1}, map[string]any{"time": hourT + 3601}, map[string]any{"time": hourT + 2}, map[string]any{"time": hourT + 99999})
	evs, schema, err := DecodeStream(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := &part{env: mustEnv("d_b", "t_b"), id: "d_b.t_b.u.0", events: evs, schema: schema}
	// Hour 10 ended at hourT+3600: with the late window passed by then it
	// is late, hour 11 is not; both are staged (their keys come when a pack
	// merges them), the future event has its quarantine key.
	if err := p.split(hourT+3600, hourT+7200); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, g := range p.groups {
		kind := "staged"
		if g.late {
			kind = "late"
		}
		if g.future {
			kind = "future"
		}
		got[kind+" "+g.part.HH()] += g.events
		if g.future != strings.HasPrefix(g.key, "quarantine/future/") || !g.future && g.key != "" {
			t.Errorf("%s group key %q: want a quarantine/future/ key for future events only", kind, g.key)
		}
	}
	want := map[string]int{"late 10": 2, "staged 11": 1, "future 13": 1}
	if len(got) != len(want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("groups = %v, want %v", got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Bucket") || !strings.Contains(err.Error(), "LedgerTTL") {
		t.Errorf("empty config: %v", err)
	}
	c := DefaultConfig()
	c.Bucket, c.CatalogTable, c.LedgerTable, c.ManifestTable = "b", "c", "l", "m"
	if err := c.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if c.LedgerTTL <= 24*time.Hour {
		t.Errorf("default ledger TTL %v is not longer than Kinesis retention", c.LedgerTTL)
	}
}

func TestMergeCapped(t *testing.T) {
	full := Schema{}
	for i := range MaxSchemaColumns {
		full[fmt.Sprintf("c%03d", i)] = TypeLong
	}
	cases := []struct {
		name        string
		base, in    Schema
		wantChanged bool
		wantDropped int
		wantLen     int
	}{
		{"room: added", Schema{"a": TypeLong}, Schema{"b": TypeString}, true, 0, 2},
		{"full: new columns dropped", full, Schema{"zz1": TypeString, "zz2": TypeLong}, false, 2, MaxSchemaColumns},
		{"full: known columns still widen", full, Schema{"c001": TypeDouble, "zz": TypeLong}, true, 1, MaxSchemaColumns},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Schema{}
			for k, v := range c.base {
				s[k] = v
			}
			changed, dropped := s.MergeCapped(c.in)
			if changed != c.wantChanged || len(dropped) != c.wantDropped || len(s) != c.wantLen {
				t.Errorf("changed %v dropped %v len %d; want %v, %d, %d", changed, dropped, len(s), c.wantChanged, c.wantDropped, c.wantLen)
			}
		})
	}
}
