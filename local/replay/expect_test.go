package replay

import (
	"os"
	"strings"
	"testing"
)

func TestParseExpectationsErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every one must appear in the error
	}{
		{"empty", "", []string{"empty file"}},
		{"unknown key", "version: 1\ntables: {web.access: {count: 1, cuont: 2}}\n", []string{"field cuont not found"}},
		{"unknown top key", "version: 1\ntable: {}\n", []string{"field table not found"}},
		{"version and tables", "version: 2\n", []string{"version: 2, want 1", "tables: at least one table"}},
		{"every table problem at once", `version: 1
tables:
  access:
    count: -1
    min_count: 5
  web.access:
    min_count: 10
    max_count: 5
    max_unmatched_ratio: 1.5
    freshness: 0s
    time: {min: "2020-01-02T00:00:00Z", max: "2020-01-01T00:00:00Z"}
    columns:
      code: {type: int, non_null: -0.1}
`, []string{
			"tables.access: name must be <db>.<table>",
			"tables.access.count: -1 is negative",
			"tables.access: count is exclusive with min_count/max_count",
			"tables.web.access: min_count 10 > max_count 5",
			"tables.web.access.max_unmatched_ratio: 1.5 is not a fraction",
			"tables.web.access.freshness: must be positive",
			"tables.web.access.time: min 2020-01-02T00:00:00Z is after max",
			`tables.web.access.columns.code.type: "int" is not one of`,
			"tables.web.access.columns.code.non_null: -0.1 is not a fraction",
		}},
		{"empty time range", "version: 1\ntables: {web.access: {time: {}}}\n", []string{"tables.web.access.time: set min, max or both"}},
		{"bad duration", "version: 1\ntables: {web.access: {freshness: soon}}\n", []string{`invalid duration "soon"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpectations([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTestdataExpectationsValid(t *testing.T) {
	for _, p := range []string{"testdata/expect.yaml", "testdata/expect-broken.yaml"} {
		t.Run(p, func(t *testing.T) {
			if _, err := LoadExpectations(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSuggestRoundTrips(t *testing.T) {
	o := sampleObservation()
	b, err := MarshalExpectations(Suggest(o))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseExpectations(b)
	if err != nil {
		t.Fatalf("suggested file does not load: %v\n%s", err, b)
	}
	if rs := Check(e, o); Failed(rs) != 0 {
		t.Errorf("suggested expectations fail on the run they came from: %+v\n%s", rs, b)
	}
	if err := os.WriteFile(t.TempDir()+"/e.yaml", b, 0o600); err != nil {
		t.Fatal(err)
	}
}
