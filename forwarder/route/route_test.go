package route

import (
	"errors"
	"strings"
	"testing"
)

// TestPattern follows Fluentd's match pattern rules (test/test_match.rb).
func TestPattern(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"a", []string{"a"}, []string{"b", "aa", "a.b"}},
		{"a.*", []string{"a.b", "a.c"}, []string{"a", "a.b.c", "b.a"}},
		{"a.*.c", []string{"a.b.c"}, []string{"a.c", "a.b.d", "a.b.b.c"}},
		{"a.**", []string{"a", "a.b", "a.b.c"}, []string{"b", "ab", "ab.c"}},
		{"**.c", []string{"c", "a.c", "a.b.c"}, []string{"a", "a.cc", "ac"}},
		{"a.**.c", []string{"a.c", "a.b.c", "a.b.b.c"}, []string{"a.b", "ac", "a.bc"}},
		{"**", []string{"a", "a.b", ""}, nil},
		{"{a,b}", []string{"a", "b"}, []string{"c", "ab"}},
		{"a.{b,c}.d", []string{"a.b.d", "a.c.d"}, []string{"a.e.d", "a.bc.d"}},
		{"a.{b,c.**}", []string{"a.b", "a.c", "a.c.d.e"}, []string{"a.d", "a.b.c"}},
		{"{a,b{c,d}}", []string{"a", "bc", "bd"}, []string{"b", "ac"}},
		{"a b.*", []string{"a", "b.c"}, []string{"b", "a.c"}},
		{`a\*`, []string{"a*"}, []string{"ab"}},
		{"a+b", []string{"a+b"}, []string{"aab"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.match {
				if !p.Match(s) {
					t.Errorf("%q does not match %q", tt.pattern, s)
				}
			}
			for _, s := range tt.nomatch {
				if p.Match(s) {
					t.Errorf("%q matches %q", tt.pattern, s)
				}
			}
		})
	}
	for _, bad := range []string{"", "  ", "{a,b", "a}", `a\`} {
		if _, err := CompilePattern(bad); err == nil {
			t.Errorf("CompilePattern(%q): no error", bad)
		}
	}
}

// TestTDLogTable follows fluent-plugin-td's out_tdlog (tag.split('.')[-2, 2])
// and td-client's normalize_database_name.
func TestTDLogTable(t *testing.T) {
	tests := []struct {
		tag, db, table string
		ok             bool
	}{
		{"td.web.access", "web", "access", true},
		{"app.access", "app", "access", true},
		{"a.b.c.d", "c__", "d__", true},
		{"Web-App.Access Log", "web_app", "access_log", true},
		{"x.Café", "x__", "caf_", true},
		{"app", "", "", false},
		{"app.", "", "", false},
		{".access", "", "", false},
		{"", "", "", false},
		{"db." + strings.Repeat("T", 300), "db_", strings.Repeat("t", 253) + "__", true},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			db, table, ok := TDLogTable(tt.tag)
			if ok != tt.ok || (ok && (db != tt.db || table != tt.table)) {
				t.Fatalf("TDLogTable(%q) = %q, %q, %v; want %q, %q, %v", tt.tag, db, table, ok, tt.db, tt.table, tt.ok)
			}
		})
	}
}

func TestRouter(t *testing.T) {
	routes := []Route{
		{Match: "app.audit", DB: "sec", Table: "audit"},
		{Match: "app.**", Output: Names{"default", "archive"}},
		{Match: "td.*.*"},
		{Match: "bad"},
	}
	tests := []struct {
		name    string
		cfg     Config
		tag     string
		want    string
		outputs string
		def     bool
	}{
		{"legacy td tag", Config{}, "td.web.access", "td.web.access", "default", false},
		{"legacy app tag refused", Config{}, "app.access", "", "", false},
		{"legacy bad name refused", Config{}, "td.Bad-Db.tbl", "", "", false},
		{"legacy default table", Config{DefaultTable: "misc.other"}, "app.access", "td.misc.other", "default", true},
		{"fixed table", Config{Routes: routes, Outputs: []string{"archive"}}, "app.audit", "td.sec.audit", "default", false},
		{"tdlog rule, copy", Config{Routes: routes, Outputs: []string{"archive"}}, "app.access", "td.app.access", "default,archive", false},
		{"first match wins", Config{Routes: routes, Outputs: []string{"archive"}}, "app.web.x", "td.web.x__", "default,archive", false},
		{"normalised", Config{Routes: routes, Outputs: []string{"archive"}}, "td.Bad-Db.tbl", "td.bad_db.tbl", "default", false},
		{"no route", Config{Routes: routes, Outputs: []string{"archive"}}, "web.access", "", "", false},
		{"no table from tag", Config{Routes: routes, Outputs: []string{"archive"}}, "bad", "", "", false},
		{"no table from tag, default", Config{Routes: routes, Outputs: []string{"archive"}, DefaultTable: "misc.other"}, "bad", "td.misc.other", "default", true},
		{"no route, default", Config{Routes: routes, Outputs: []string{"archive"}, DefaultTable: "misc.other"}, "web.access", "td.misc.other", "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // second answer from the cache
				d, err := r.Route(tt.tag)
				if tt.want == "" {
					if !errors.Is(err, ErrUnroutable) || r.Routable(tt.tag) {
						t.Fatalf("Route(%q) = %+v, %v; want ErrUnroutable", tt.tag, d, err)
					}
					continue
				}
				if err != nil || d.Tag != tt.want || strings.Join(d.Outputs, ",") != tt.outputs || d.Default != tt.def {
					t.Fatalf("Route(%q) = %+v, %v; want %s to %s (default %v)", tt.tag, d, err, tt.want, tt.outputs, tt.def)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{
		Routes: []Route{
			{Match: "{a"},
			{Match: "a", DB: "db1"},
			{Match: "b", DB: "D", Table: "tbl"},
			{Match: "c", Output: Names{"nowhere"}},
		},
		DefaultTable: "nodot",
	}.Validate()
	for _, want := range []string{"routes[0].match", "routes[1]: set both", "routes[2].db", `routes[3].output: no output named "nowhere"`, "default_table"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a problem naming %q", err, want)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	r, err := New(Config{Routes: []Route{{Match: "app.audit", DB: "sec", Table: "audit"}, {Match: "app.**"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route("app.access"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeepTagRoutes: a route whose outputs all keep the events' tags
// (forward outputs) routes a tag tdlog's rule cannot name a table from;
// a route that also feeds a TD output still needs one.
func TestKeepTagRoutes(t *testing.T) {
	r, err := New(Config{
		Routes: []Route{
			{Match: "fwd.** solo", Output: Names{"agg"}},
			{Match: "mixed.** both", Output: Names{"default", "agg"}},
		},
		Outputs: []string{"agg"},
		KeepTag: []string{"agg"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tag, want string
		ok        bool
	}{
		{"solo", "solo", true},
		{"fwd.a.b", "td.a__.b__", true}, // the forward output stores it as fwd.a.b (Intake)
		{"both", "", false},
		{"mixed.x.y", "td.x__.y__", true},
	} {
		d, err := r.Route(tc.tag)
		if (err == nil) != tc.ok || tc.ok && d.Tag != tc.want {
			t.Errorf("Route(%q) = %+v, %v; want tag %q, routable %v", tc.tag, d, err, tc.want, tc.ok)
		}
	}
}
