package replay

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a replay.
type Report struct {
	// Passed is true when every expectation passed.
	Passed bool `json:"passed"`
	// Failures counts the failed expectations.
	Failures int `json:"failures"`
	// Results are the expectations' outcomes, in check order.
	Results []Result `json:"results"`
	// Observation is what the replay read back.
	Observation Observation `json:"observation"`
	// Startup is the time the local cloud took to start (zero when an
	// already running one was used); Replay the time from the forwarder's
	// start until every sink was read back.
	Startup Duration `json:"startup"`
	Replay  Duration `json:"replay"`
}

// NewReport checks o against e.
func NewReport(e Expectations, o Observation) Report {
	rs := Check(e, o)
	n := Failed(rs)
	return Report{Passed: n == 0, Failures: n, Results: rs, Observation: o}
}

// WriteJSON writes the report as one indented JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteText writes a human-readable summary: a `td tables`-style listing
// of what landed, the forwarder's counters, then every failed expectation
// with a few offending records, and a last PASS/FAIL line.
func (r Report) WriteText(w io.Writer) error {
	o := r.Observation
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "Database\tTable\tCount\tSealed\tTD\tUnmatched\tMin time (UTC)\tMax time (UTC)\tSettled after\t")
	for _, name := range sortedKeys(o.Tables) {
		t := o.Tables[name]
		settled := "-"
		if t.Settled > 0 {
			settled = t.Settled.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", t.DB, t.Table, t.Catalog, t.Sealed, t.TD, t.Unmatched,
			tableTime(t.MinTime), tableTime(t.MaxTime), settled)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	f := o.Forwarder
	fmt.Fprintf(w, "\nforwarder: %d lines read, %d kept unparsed, %d records shipped, %d chunks parked\n", f.Lines, f.ParseErrors, f.Shipped, f.Parked)
	fmt.Fprintf(w, "quarantine/: %d new objects, failed/: %d new objects\n", len(o.Quarantine), len(o.Failed))
	if r.Startup > 0 {
		fmt.Fprintf(w, "start-up %s, replay %s\n", time.Duration(r.Startup).Round(100*time.Millisecond), time.Duration(r.Replay).Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(w, "replay %s (cloud already running)\n", time.Duration(r.Replay).Round(100*time.Millisecond))
	}
	fmt.Fprintln(w)
	for _, res := range r.Results {
		if res.Passed {
			continue
		}
		fmt.Fprintf(w, "FAIL %s: %s\n", res.Name, res.Message)
		for _, s := range res.Samples {
			fmt.Fprintf(w, "    %s\n", truncate(s, 400))
		}
	}
	if r.Passed {
		_, err := fmt.Fprintf(w, "PASS: %d expectations\n", len(r.Results))
		return err
	}
	_, err := fmt.Fprintf(w, "FAIL: %d of %d expectations failed\n", r.Failures, len(r.Results))
	return err
}

func tableTime(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// JUnit XML, the shape Jenkins, GitLab and GitHub reporters read
// (https://github.com/testmoapp/junitxml): one testsuite "spillway-replay"
// with one testcase per expectation, classname the table.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one testcase per expectation.
func (r Report) WriteJUnit(w io.Writer) error {
	secs := fmt.Sprintf("%.3f", time.Duration(r.Replay).Seconds())
	s := junitSuite{Name: "spillway-replay", Tests: len(r.Results), Failures: r.Failures, Time: secs}
	for _, res := range r.Results {
		class := "spillway.replay"
		if res.Table != "" {
			class += "." + res.Table
		}
		c := junitCase{Name: res.Name, Classname: class, Time: "0", SystemOut: res.Message}
		if !res.Passed {
			text := res.Message
			if len(res.Samples) > 0 {
				text += "\noffending:\n  " + strings.Join(res.Samples, "\n  ")
			}
			c.Failure = &junitFailure{Message: res.Message, Type: "ExpectationFailed", Text: text}
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: "spillway-replay", Tests: s.Tests, Failures: s.Failures, Time: secs, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
