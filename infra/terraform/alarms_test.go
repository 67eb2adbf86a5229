package terraform_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// emfAlarm is one alarm of locals.alarms on a metric a function publishes
// itself (EMF), as written in alarms.tf.
type emfAlarm struct {
	key, metric string
	eval        string // the eval expression's source (local.first, local.m_of_n, ...)
}

// emfAlarms returns the alarms of locals.alarms whose namespace is
// local.<nsLocal>, whatever branch of the merge they are in.
func emfAlarms(m *tfModule, nsLocal string) ([]emfAlarm, error) {
	expr, err := m.local("alarms")
	if err != nil {
		return nil, err
	}
	var out []emfAlarm
	var errs []error
	hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		obj, ok := n.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return nil
		}
		for _, it := range obj.Items {
			alarm, ok := it.ValueExpr.(*hclsyntax.ObjectConsExpr)
			if !ok {
				continue
			}
			items, err := objectItems(alarm)
			if err != nil || items["namespace"] == nil || items["metric"] == nil {
				continue
			}
			if source(items["namespace"]) != "local."+nsLocal {
				continue
			}
			metric := exprString(items["metric"])
			if metric == "" {
				errs = append(errs, fmt.Errorf("%s: metric is not a literal", items["metric"].Range()))
				continue
			}
			out = append(out, emfAlarm{key: source(it.KeyExpr), metric: metric, eval: source(items["eval"])})
		}
		return nil
	})
	return out, errors.Join(errs...)
}

// checkFlushAlarms verifies that every alarm on flush's EMF namespace names
// a metric flush's Go code publishes (a quoted literal in its non-test
// files), so a renamed metric cannot silently blind an alarm, and that
// each metric in firstDatapoint has an alarm firing on the first datapoint.
func checkFlushAlarms(m *tfModule, flushDir string, firstDatapoint []string) error {
	alarms, err := emfAlarms(m, "flush_ns")
	if err != nil {
		return err
	}
	src, err := goSource(flushDir)
	if err != nil {
		return err
	}
	var errs []error
	alarmedFirst := map[string]bool{}
	for _, a := range alarms {
		if !strings.Contains(src, strconv.Quote(a.metric)) {
			errs = append(errs, fmt.Errorf("alarm %s: flush never publishes metric %q", a.key, a.metric))
		}
		if a.eval == "local.first" {
			alarmedFirst[a.metric] = true
		}
	}
	for _, metric := range firstDatapoint {
		if !alarmedFirst[metric] {
			errs = append(errs, fmt.Errorf("no alarm on flush's %s that fires on the first datapoint", metric))
		}
	}
	return errors.Join(errs...)
}

// TestFlushAlarmsMatchMetrics: the alarms on flush's own metrics name
// metrics flush publishes, and MissingStagedObjects (staged objects found
// gone under a claimed manifest: events that may need a replay) alarms at
// once, like the other loss-related alarms.
func TestFlushAlarmsMatchMetrics(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		first    []string
		mentions []string
	}{
		{name: "flush", dir: filepath.Join(repoRoot, "functions", "flush"), first: []string{"MissingStagedObjects"}},
		{name: "wrong directory", dir: "testdata", mentions: []string{`flush never publishes metric "OldestStagedSeconds"`}},
		{name: "metric without an alarm", dir: filepath.Join(repoRoot, "functions", "flush"), first: []string{"NoSuchMetric"}, mentions: []string{"no alarm on flush's NoSuchMetric"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkFlushAlarms(parseModule(t, moduleDir), tc.dir, tc.first), tc.mentions)
		})
	}
}
