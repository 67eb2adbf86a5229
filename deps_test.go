package spillway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/spillwayhq/spillway"

// pkg is the part of `go list -json` the dependency rules read.
type pkg struct {
	ImportPath string
	Deps       []string
}

// violations applies the project's dependency-direction rules (STYLE.md) to
// pkgs, whose Deps are their non-test imports: shared imports none of
// functions, forwarder or local; functions never import each other; the
// forwarder and the functions never import each other, and the forwarder
// links no Lambda or AWS SDK code; only local/ and bench/ (harnesses that
// run the local cloud) import local/, and the operations CLI's `spillway
// cost`, which runs the local cloud from a checkout; the test-support
// packages under internal/ are imported by tests, local/, bench/ and that
// CLI (through local/) only.
func violations(pkgs []pkg) []string {
	var out []string
	area := func(p string) string {
		rest := strings.TrimPrefix(p, module+"/")
		parts := strings.SplitN(rest, "/", 3)
		if parts[0] == "functions" && len(parts) > 1 {
			return "functions/" + parts[1]
		}
		return parts[0]
	}
	for _, p := range pkgs {
		from := area(p.ImportPath)
		// cmd/spillway runs the local cloud for `spillway cost`, whose model
		// reads local/costrun's measurement.
		runsLocal := from == "local" || from == "bench" || p.ImportPath == module+"/cmd/spillway" || p.ImportPath == module+"/cmd/spillway/internal/cost"
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module+"/") {
				if strings.HasPrefix(from, "forwarder") && (strings.HasPrefix(d, "github.com/aws/aws-lambda-go") || strings.HasPrefix(d, "github.com/aws/aws-sdk-go-v2")) {
					out = append(out, fmt.Sprintf("%s links %s: the forwarder must not link Lambda or AWS SDK code", p.ImportPath, d))
				}
				continue
			}
			to := area(d)
			switch {
			case from == "shared" && (strings.HasPrefix(to, "functions") || to == "forwarder" || to == "local"):
				out = append(out, fmt.Sprintf("%s imports %s: shared must not import functions, forwarder or local", p.ImportPath, d))
			case strings.HasPrefix(from, "functions/") && strings.HasPrefix(to, "functions/") && from != to:
				out = append(out, fmt.Sprintf("%s imports %s: functions must not import each other", p.ImportPath, d))
			case to == "local" && !runsLocal:
				out = append(out, fmt.Sprintf("%s imports %s: nothing outside local/, bench/ and spillway cost may import local", p.ImportPath, d))
			case strings.HasPrefix(from, "forwarder") && strings.HasPrefix(to, "functions"),
				strings.HasPrefix(from, "functions") && strings.HasPrefix(to, "forwarder"):
				out = append(out, fmt.Sprintf("%s imports %s: the forwarder and the functions must not import each other", p.ImportPath, d))
			case to == "internal" && from != "internal" && !runsLocal:
				out = append(out, fmt.Sprintf("%s imports %s: test-support packages (internal/) are for tests, local/ and bench/ only", p.ImportPath, d))
			}
		}
	}
	return out
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

func TestDependencyRulesCatchViolations(t *testing.T) {
	bad := []pkg{
		{ImportPath: module + "/shared/names", Deps: []string{module + "/functions/ingest"}},
		{ImportPath: module + "/functions/fanout", Deps: []string{module + "/functions/flush"}},
		{ImportPath: module + "/functions/flush/cmd/bootstrap", Deps: []string{module + "/functions/flush", module + "/local/edge"}},
		{ImportPath: module + "/forwarder/cmd/spillway-forwarder", Deps: []string{"github.com/aws/aws-lambda-go/lambda"}},
		{ImportPath: module + "/shared/envelope", Deps: []string{module + "/forwarder/output"}},
		{ImportPath: module + "/forwarder/output", Deps: []string{module + "/functions/ingest"}},
		{ImportPath: module + "/functions/ingest", Deps: []string{module + "/forwarder/parser"}},
		{ImportPath: module + "/functions/fanout", Deps: []string{module + "/internal/testcodec"}},
		{ImportPath: module + "/forwarder/cmd/spillway-forwarder", Deps: []string{module + "/internal/testcodec"}},
		{ImportPath: module + "/shared/tdimport", Deps: []string{module + "/internal/testcodec"}},
		{ImportPath: module + "/cmd/spillway/internal/replay", Deps: []string{module + "/local/cloud"}},
	}
	got := violations(bad)
	if len(got) != len(bad) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(bad), strings.Join(got, "\n"))
	}
	good := []pkg{
		{ImportPath: module + "/functions/fanout/cmd/bootstrap", Deps: []string{module + "/functions/fanout", module + "/shared/envelope", "github.com/aws/aws-lambda-go/lambda"}},
		{ImportPath: module + "/local/cloud", Deps: []string{module + "/local/edge", module + "/shared/names", module + "/internal/testcodec"}},
		{ImportPath: module + "/bench/forwarder/run", Deps: []string{module + "/forwarder/output", module + "/internal/testcodec"}},
		{ImportPath: module + "/internal/testcodec", Deps: []string{module + "/shared/names"}},
		{ImportPath: module + "/cmd/spillway", Deps: []string{module + "/local/costrun", module + "/internal/tdtest"}},
	}
	if got := violations(good); len(got) != 0 {
		t.Fatalf("false positives: %v", got)
	}
}
