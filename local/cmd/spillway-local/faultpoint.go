package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// faultPoints are the functions that read SPILLWAY_FAULT_POINT and the
// points each one has.
var faultPoints = map[string][]string{"fanout": fanout.FaultPoints, "flush": flush.FaultPoints}

// faultPointFlag collects repeated -fault-point fn=spec flags: per function,
// the specs in the order given (joined with commas, shared/fault's list form).
type faultPointFlag map[string][]string

// String implements flag.Value.
func (f faultPointFlag) String() string {
	fns := make([]string, 0, len(f))
	for fn := range f {
		fns = append(fns, fn)
	}
	slices.Sort(fns)
	var parts []string
	for _, fn := range fns {
		parts = append(parts, fn+"="+strings.Join(f[fn], ","))
	}
	return strings.Join(parts, " ")
}

// Set implements flag.Value: v is fn=spec, spec a point, point@once, or a
// comma-separated list of those.
func (f faultPointFlag) Set(v string) error {
	fn, spec, ok := strings.Cut(v, "=")
	fn, spec = strings.TrimSpace(fn), strings.TrimSpace(spec)
	points, known := faultPoints[fn]
	if !ok || !known || spec == "" {
		return fmt.Errorf("want fanout=<point>[@once][,...] or flush=<point>[@once][,...], got %q", v)
	}
	for _, item := range strings.Split(spec, ",") {
		p, _ := strings.CutSuffix(strings.TrimSpace(item), "@once")
		if !slices.Contains(points, p) {
			return fmt.Errorf("%s has no fault point %q (it has %s)", fn, p, strings.Join(points, ", "))
		}
	}
	f[fn] = append(f[fn], spec)
	return nil
}

// env returns the per-function SPILLWAY_FAULT_POINT values for
// cloud.Options.FunctionEnv, or nil when no flag was given.
func (f faultPointFlag) env() map[string]map[string]string {
	if len(f) == 0 {
		return nil
	}
	out := map[string]map[string]string{}
	for fn, specs := range f {
		out[fn] = map[string]string{lambdaenv.FaultPoint: strings.Join(specs, ",")}
	}
	return out
}
