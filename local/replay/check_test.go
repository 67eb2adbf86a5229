package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/spillwayhq/spillway/internal/tdtest"
)

// sampleObservation is a settled run of 4 web.access records, one unparsed.
func sampleObservation() Observation {
	recs := []tdtest.Record{
		{"time": int64(1431857103), "host": "83.149.9.216", "code": int64(200), "size": int64(203023)},
		{"time": int64(1431857143), "host": "83.149.9.216", "code": int64(200), "size": nil},
		{"time": int64(1431857200), "host": "10.0.0.1", "code": int64(404), "size": int64(12)},
		{"time": int64(1432155915), "unmatched_line": "46.105.14.53 - - [20/May/2015:21:05:15 +0000] \"GET /blog"},
	}
	return Observation{Tables: map[string]*TableObservation{"web.access": {
		DB: "web", Table: "access", Catalog: 4, Sealed: 4, TD: 4, MinTime: 1431857103, MaxTime: 1431857200,
		Unmatched: 1, Settled: 20 * time.Second, Records: recs,
	}}, Forwarder: ForwarderStats{Lines: 4, ParseErrors: 1, Appended: 4, Shipped: 4, Files: 1}}
}

func TestCheck(t *testing.T) {
	mustParse := func(s string) Expectations {
		t.Helper()
		e, err := ParseExpectations([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name   string
		exp    string
		mutate func(*Observation)
		failed map[string]string // failed result name -> message fragment
	}{
		{name: "all pass", exp: `version: 1
tables:
  web.access:
    count: 4
    time: {min: "2015-05-17T00:00:00Z", max: "2015-05-21T00:00:00Z"}
    max_unmatched_ratio: 0.25
    freshness: 1m
    columns: {host: {type: string, non_null: 0.75}, code: {type: integer}, size: {type: number}}
`},
		{name: "unmatched ratio names the parser", exp: "version: 1\ntables: {web.access: {max_unmatched_ratio: 0.01}}\n",
			failed: map[string]string{"web.access unmatched lines": "unmatched-line ratio 0.2500 (1 of 4 records hold \"unmatched_line\"), want at most 0.01: the parser did not match these lines; check the parse settings"}},
		{name: "counts, time, columns, freshness", exp: `version: 1
tables:
  web.access:
    min_count: 5
    time: {max: "2015-05-17T10:06:00Z"}
    freshness: 10s
    columns: {code: {type: string, non_null: 1}, missing: {}}
`, failed: map[string]string{
			"web.access count":                  "want at least 5 records, catalog counts 4",
			"web.access time range":             "1 of 3 parsed records outside",
			"web.access freshness":              "settled after 20s",
			"web.access column code type":       "3 of 3 are not",
			"web.access column code non-null":   "got 0.7500 (3 of 4)",
			"web.access column missing present": `column "missing" occurs in 0 of 4 records`,
		}},
		{name: "quarantine, failed, unexpected and missing tables", exp: "version: 1\ntables: {web.other: {}}\n",
			mutate: func(o *Observation) {
				o.Quarantine = []string{"quarantine/records/x.json"}
				o.Failed = []string{"failed/td/db=web/table=access/u.json"}
				o.NotSettled = "sinks did not settle within 5m0s (web.access: catalog 4, sealed 3, TD 4)"
			},
			failed: map[string]string{
				"sinks settled":           "sealed 3",
				"nothing in quarantine/":  "1 new object(s)",
				"nothing in failed/":      "1 new object(s)",
				"web.access expected":     "no expectations",
				"web.other received data": "no records landed",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := sampleObservation()
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			got := map[string]string{}
			for _, r := range Check(mustParse(tc.exp), o) {
				if !r.Passed {
					got[r.Name] = r.Message
				}
			}
			for name, frag := range tc.failed {
				if !strings.Contains(got[name], frag) {
					t.Errorf("%s: message %q lacks %q", name, got[name], frag)
				}
			}
			if len(got) != len(tc.failed) {
				t.Errorf("failed %d expectations, want %d: %v", len(got), len(tc.failed), got)
			}
		})
	}
}

func TestReports(t *testing.T) {
	e, err := ParseExpectations([]byte("version: 1\ntables: {web.access: {count: 4, max_unmatched_ratio: 0.01, columns: {code: {type: integer}}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport(e, sampleObservation())
	r.Replay = Duration(42 * time.Second)

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"web|", "access|", "FAIL web.access unmatched lines:", `"unmatched_line":"46.105.14.53`, "FAIL: 1 of "} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text report lacks %q:\n%s", w, text.String())
		}
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Passed   bool
		Failures int
		Results  []Result
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Passed || back.Failures != 1 || len(back.Results) != len(r.Results) {
		t.Errorf("json report: %v %+v", err, back)
	}

	var x bytes.Buffer
	if err := r.WriteJUnit(&x); err != nil {
		t.Fatal(err)
	}
	// Read it back with a JUnit consumer (github.com/joshdk/go-junit).
	suites, err := junit.Ingest(x.Bytes())
	if err != nil {
		t.Fatalf("junit: %v\n%s", err, x.String())
	}
	if len(suites) != 1 || suites[0].Name != "spillway-replay" {
		t.Fatalf("junit suites: %+v", suites)
	}
	s := suites[0]
	if s.Totals.Tests != len(r.Results) || s.Totals.Failed != 1 || s.Totals.Passed != len(r.Results)-1 {
		t.Errorf("junit totals %+v, want %d tests, 1 failed", s.Totals, len(r.Results))
	}
	for _, tc := range s.Tests {
		if tc.Status == junit.StatusFailed && (tc.Name != "web.access unmatched lines" || tc.Classname != "spillway.replay.web.access" || !strings.Contains(tc.Message, "the parser did not match")) {
			t.Errorf("failed junit test case %+v", tc)
		}
	}
}
