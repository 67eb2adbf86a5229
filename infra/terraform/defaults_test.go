package terraform_test

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/functions/ingest"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
	"github.com/spillwayhq/spillway/shared/resend"
)

// varDefault returns the default of a module variable or of an attribute
// inside an object-typed variable ("flush.late_window": the default of
// optional(string, "10m") in the type of variable "flush"). An optional
// attribute without a default is null.
func varDefault(m *tfModule, path string) (cty.Value, error) {
	parts := strings.Split(path, ".")
	var blk *hclsyntax.Block
	for _, b := range m.blocks("variable") {
		if len(b.Labels) == 1 && b.Labels[0] == parts[0] {
			blk = b
		}
	}
	if blk == nil {
		return cty.NilVal, fmt.Errorf("%s: no variable %q", m.dir, parts[0])
	}
	if len(parts) == 1 {
		a, ok := blk.Body.Attributes["default"]
		if !ok {
			return cty.NilVal, fmt.Errorf("variable %q has no default", parts[0])
		}
		return constValue(a.Expr)
	}
	if a, ok := blk.Body.Attributes["default"]; ok {
		if obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr); !ok || len(obj.Items) != 0 {
			return cty.NilVal, fmt.Errorf("variable %q: want default = {} so that the type's optional defaults apply", parts[0])
		}
	}
	typ := blk.Body.Attributes["type"].Expr
	var def hclsyntax.Expression
	for _, p := range parts[1:] {
		fc, ok := typ.(*hclsyntax.FunctionCallExpr)
		if !ok || fc.Name != "object" || len(fc.Args) != 1 {
			return cty.NilVal, fmt.Errorf("%s: %s is not an object type", path, typ.Range())
		}
		items, err := objectItems(fc.Args[0])
		if err != nil {
			return cty.NilVal, err
		}
		opt, ok := items[p].(*hclsyntax.FunctionCallExpr)
		if !ok || opt.Name != "optional" {
			return cty.NilVal, fmt.Errorf("%s: attribute %q is missing or not optional(...)", path, p)
		}
		typ, def = opt.Args[0], nil
		if len(opt.Args) == 2 {
			def = opt.Args[1]
		}
	}
	if def == nil {
		return cty.NullVal(cty.DynamicPseudoType), nil
	}
	return constValue(def)
}

func constValue(e hclsyntax.Expression) (cty.Value, error) {
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: not a constant: %s", e.Range(), diags.Error())
	}
	return v, nil
}

// evalDefaults evaluates expr with every var.* it references at its
// default (or at overrides[path], path as in varDefault) and every local.*
// evaluated the same way.
func evalDefaults(m *tfModule, expr hclsyntax.Expression, overrides map[string]cty.Value) (cty.Value, error) {
	vars, locals := map[string]any{}, map[string]cty.Value{}
	for _, tr := range expr.Variables() {
		var names []string
		for _, step := range tr[1:] {
			a, ok := step.(hcl.TraverseAttr)
			if !ok {
				break
			}
			names = append(names, a.Name)
		}
		if len(names) == 0 {
			return cty.NilVal, fmt.Errorf("%s: unsupported reference", tr.SourceRange())
		}
		switch tr.RootName() {
		case "var":
			path := strings.Join(names, ".")
			v, ok := overrides[path]
			if !ok {
				var err error
				if v, err = varDefault(m, path); err != nil {
					return cty.NilVal, err
				}
			}
			setPath(vars, names, v)
		case "local":
			le, err := m.local(names[0])
			if err != nil {
				return cty.NilVal, err
			}
			v, err := evalDefaults(m, le, overrides)
			if err != nil {
				return cty.NilVal, fmt.Errorf("local.%s: %w", names[0], err)
			}
			locals[names[0]] = v
		default:
			return cty.NilVal, fmt.Errorf("%s: cannot evaluate %s.* statically", tr.SourceRange(), tr.RootName())
		}
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": toObject(vars), "local": cty.ObjectVal(locals)},
		Functions: map[string]function.Function{"coalesce": stdlib.CoalesceFunc, "floor": stdlib.FloorFunc},
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("evaluate %s: %s", expr.Range(), diags.Error())
	}
	return v, nil
}

func setPath(m map[string]any, names []string, v cty.Value) {
	if len(names) == 1 {
		m[names[0]] = v
		return
	}
	sub, ok := m[names[0]].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[names[0]] = sub
	}
	setPath(sub, names[1:], v)
}

func toObject(m map[string]any) cty.Value {
	out := map[string]cty.Value{}
	for k, v := range m {
		switch v := v.(type) {
		case cty.Value:
			out[k] = v
		case map[string]any:
			out[k] = toObject(v)
		}
	}
	return cty.ObjectVal(out)
}

// localDefault evaluates locals.<name> with every variable at its default.
func localDefault(m *tfModule, name string) (cty.Value, error) {
	e, err := m.local(name)
	if err != nil {
		return cty.NilVal, err
	}
	return evalDefaults(m, e, nil)
}

// goValue converts a Terraform value to what the Go default is compared with.
type goValue func(cty.Value) (any, error)

func asString(v cty.Value) (any, error) {
	if v.IsNull() || v.Type() != cty.String {
		return nil, fmt.Errorf("want a string, got %#v", v)
	}
	return v.AsString(), nil
}

func asBool(v cty.Value) (any, error) {
	if v.IsNull() || v.Type() != cty.Bool {
		return nil, fmt.Errorf("want a bool, got %#v", v)
	}
	return v.True(), nil
}

func asInt(v cty.Value) (any, error) {
	if v.IsNull() || v.Type() != cty.Number {
		return nil, fmt.Errorf("want a number, got %#v", v)
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact {
		return nil, fmt.Errorf("%s is not a whole number", v.AsBigFloat())
	}
	return n, nil
}

func asDuration(v cty.Value) (any, error) {
	s, err := asString(v)
	if err != nil {
		return nil, err
	}
	return time.ParseDuration(s.(string))
}

func asHours(v cty.Value) (any, error) {
	n, err := asInt(v)
	if err != nil {
		return nil, err
	}
	return time.Duration(n.(int64)) * time.Hour, nil
}

// TestDefaultsMatchGo checks every Terraform default that reaches a function
// (or that a Go rule repeats) against the Go DefaultConfig it maps to.
func TestDefaultsMatchGo(t *testing.T) {
	m := parseModule(t, moduleDir)
	in, fo, fl := ingest.DefaultConfig(), fanout.DefaultConfig(), flush.DefaultConfig()
	tests := []struct {
		tf   string // variable path, or local.<name> evaluated with every variable at its default
		conv goValue
		goes map[string]any // Go name -> Go default
	}{
		{"log_level", asString, map[string]any{"lambdaenv Loader.Level()": strings.ToLower(lambdaenv.NewLoader(lambdaenv.MapLookup(nil)).Level().String())}},
		{"auth_mode", asString, map[string]any{"ingest.AuthMode": in.AuthMode}},
		{"auto_create", asBool, map[string]any{"ingest.AutoCreate": in.AutoCreate, "fanout.AutoCreate": fo.AutoCreate}},
		{"flush.seal_target_bytes", asInt, map[string]any{"flush.SealTargetBytes": fl.SealTargetBytes}},
		{"flush.late_window", asDuration, map[string]any{"flush.LateWindow": fl.LateWindow, "fanout.LateWindow": fo.LateWindow}},
		{"flush.future_limit", asDuration, map[string]any{"fanout.FutureLimit": fo.FutureLimit}},
		{"flush.seal_after", asDuration, map[string]any{"fanout.SealAfter": fo.SealAfter}},
		{"flush.sweep_every", asDuration, map[string]any{"flush.SweepEvery": fl.SweepEvery}},
		{"lake.snapshot_age", asDuration, map[string]any{"flush.LakeSnapshotAge": fl.LakeSnapshotAge}},
		{"lake.keep_snapshots", asInt, map[string]any{"flush.LakeKeepSnapshots": int64(fl.LakeKeepSnapshots)}},
		{"lake.orphan_age", asDuration, map[string]any{"flush.LakeOrphanAge": fl.LakeOrphanAge}},
		{"lake.compact_max_rows", asInt, map[string]any{"lake.CompactMaxRows": lake.DefaultConfig().CompactMaxRows}},
		{"fanout.commit_concurrency", asInt, map[string]any{"fanout.CommitConcurrency": int64(fo.CommitConcurrency)}},
		{"fanout.counter_items", asInt, map[string]any{"fanout.CounterItems": int64(fo.CounterItems)}},
		{"resend_horizon_hours", asHours, map[string]any{"fanout.ResendHorizon": fo.ResendHorizon, "resend.Horizon": resend.Horizon}},
		{"stream.retention_hours", asHours, map[string]any{"fanout.StreamRetention": fo.StreamRetention, "resend.DefaultStreamRetention": resend.DefaultStreamRetention}},
		{"local.ledger_ttl_margin_hours", asHours, map[string]any{"resend.LedgerMargin": resend.LedgerMargin}},
		{"local.ledger_ttl_hours", asHours, map[string]any{"fanout.LedgerTTL": fo.LedgerTTL}},
		{"local.ledger_ttl_min_hours", asHours, map[string]any{"resend.MinLedgerTTL": resend.MinLedgerTTL(resend.Horizon, resend.DefaultStreamRetention)}},
	}
	for _, tc := range tests {
		t.Run(tc.tf, func(t *testing.T) {
			var v cty.Value
			var err error
			if name, ok := strings.CutPrefix(tc.tf, "local."); ok {
				v, err = localDefault(m, name)
			} else {
				v, err = varDefault(m, tc.tf)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.conv(v)
			if err != nil {
				t.Fatalf("%s: %v", tc.tf, err)
			}
			names := keysOf(tc.goes)
			sort.Strings(names)
			for _, name := range names {
				if got != tc.goes[name] {
					t.Errorf("Terraform %s = %v, Go %s = %v", tc.tf, got, name, tc.goes[name])
				}
			}
		})
	}
}

// precondition returns the condition of the lifecycle precondition of the
// resource typ.name.
func precondition(tb testing.TB, m *tfModule, typ, name string) hclsyntax.Expression {
	tb.Helper()
	res, err := m.resource(typ, name)
	if err != nil {
		tb.Fatal(err)
	}
	for _, lc := range res.Body.Blocks {
		if lc.Type != "lifecycle" {
			continue
		}
		for _, pc := range lc.Body.Blocks {
			if pc.Type == "precondition" {
				return pc.Body.Attributes["condition"].Expr
			}
		}
	}
	tb.Fatalf("%s.%s has no lifecycle precondition", typ, name)
	return nil
}

// TestDerivedSettingsChecked evaluates the module's preconditions: the
// ledger TTL must cover the resend horizon plus the stream retention plus
// the margin, and the ESM must give up on a record well before the stream
// drops it.
func TestDerivedSettingsChecked(t *testing.T) {
	m := parseModule(t, moduleDir)
	num := func(n int64) cty.Value { return cty.NumberIntVal(n) }
	ttlCond := precondition(t, m, "aws_lambda_function", "this")
	esmCond := precondition(t, m, "aws_lambda_event_source_mapping", "fanout")
	tests := []struct {
		name      string
		cond      hclsyntax.Expression
		overrides map[string]cty.Value
		ok        bool
	}{
		{"ledger TTL derived from the defaults", ttlCond, nil, true},
		{"ledger TTL derived from a 72 h stream", ttlCond, map[string]cty.Value{"stream.retention_hours": num(72)}, true},
		{"ledger TTL of 72 h (deployed before) is refused", ttlCond, map[string]cty.Value{"flush.ledger_ttl_hours": num(72)}, false},
		{"ledger TTL of 216 h with a 72 h stream is refused", ttlCond, map[string]cty.Value{"flush.ledger_ttl_hours": num(216), "stream.retention_hours": num(72)}, false},
		{"ledger TTL above the minimum", ttlCond, map[string]cty.Value{"flush.ledger_ttl_hours": num(336), "stream.retention_hours": num(72)}, true},
		{"ledger TTL with a longer resend horizon", ttlCond, map[string]cty.Value{"flush.ledger_ttl_hours": num(216), "resend_horizon_hours": num(336)}, false},
		{"ESM record age default", esmCond, nil, true},
		{"ESM record age of 24 h on a 24 h stream (deployed before) is refused", esmCond, map[string]cty.Value{"event_source_mapping.maximum_record_age_seconds": num(86400)}, false},
		{"ESM record age unlimited is refused", esmCond, map[string]cty.Value{"event_source_mapping.maximum_record_age_seconds": num(-1)}, false},
		{"ESM record age 24 h on a 72 h stream", esmCond, map[string]cty.Value{"event_source_mapping.maximum_record_age_seconds": num(86400), "stream.retention_hours": num(72)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := evalDefaults(m, tc.cond, tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if v.Type() != cty.Bool || v.True() != tc.ok {
				t.Errorf("condition = %#v, want %v", v, tc.ok)
			}
		})
	}
}
