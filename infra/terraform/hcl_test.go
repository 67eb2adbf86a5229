// Package terraform_test checks the Spillway Terraform module and examples:
// statically (HCL parsed with hashicorp/hcl against the Go code's contracts)
// and for real (terraform fmt, validate, and apply/plan/destroy against moto).
package terraform_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// tfModule is the parsed .tf files of one directory.
type tfModule struct {
	dir    string
	bodies []*hclsyntax.Body
}

func parseModule(tb testing.TB, dir string) *tfModule {
	tb.Helper()
	m, err := loadModule(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func loadModule(dir string) (*tfModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	sort.Strings(files)
	p := hclparse.NewParser()
	m := &tfModule{dir: dir}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %s", f, diags.Error())
		}
		m.bodies = append(m.bodies, file.Body.(*hclsyntax.Body))
	}
	return m, nil
}

// blocks returns every top-level block of the given type.
func (m *tfModule) blocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.bodies {
		for _, blk := range b.Blocks {
			if blk.Type == typ {
				out = append(out, blk)
			}
		}
	}
	return out
}

// local returns the expression of locals.<name>.
func (m *tfModule) local(name string) (hclsyntax.Expression, error) {
	for _, blk := range m.blocks("locals") {
		if a, ok := blk.Body.Attributes[name]; ok {
			return a.Expr, nil
		}
	}
	return nil, fmt.Errorf("%s: no local %q", m.dir, name)
}

// resource returns the resource block with the given type and name.
func (m *tfModule) resource(typ, name string) (*hclsyntax.Block, error) {
	for _, blk := range m.blocks("resource") {
		if len(blk.Labels) == 2 && blk.Labels[0] == typ && blk.Labels[1] == name {
			return blk, nil
		}
	}
	return nil, fmt.Errorf("%s: no resource %s.%s", m.dir, typ, name)
}

// objectItems returns the key -> value expressions of an object constructor.
func objectItems(expr hclsyntax.Expression) (map[string]hclsyntax.Expression, error) {
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("%s: want an object literal, got %T", expr.Range(), expr)
	}
	out := make(map[string]hclsyntax.Expression, len(obj.Items))
	for _, it := range obj.Items {
		k := hcl.ExprAsKeyword(it.KeyExpr)
		if k == "" {
			v, diags := it.KeyExpr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				return nil, fmt.Errorf("%s: object key is not a literal", it.KeyExpr.Range())
			}
			k = v.AsString()
		}
		out[k] = it.ValueExpr
	}
	return out, nil
}

// tupleItems returns the elements of a tuple constructor.
func tupleItems(expr hclsyntax.Expression) ([]hclsyntax.Expression, error) {
	t, ok := expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil, fmt.Errorf("%s: want a list literal, got %T", expr.Range(), expr)
	}
	return t.Exprs, nil
}

// literalStrings evaluates a list literal of constant strings.
func literalStrings(expr hclsyntax.Expression) ([]string, error) {
	items, err := tupleItems(expr)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		v, diags := it.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String {
			return nil, fmt.Errorf("%s: want a constant string", it.Range())
		}
		out = append(out, v.AsString())
	}
	return out, nil
}

// keysOf returns the sorted keys of m.
func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffSets describes what is only in want and only in got, or "" when equal.
func diffSets(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var missing, extra []string
	for s := range w {
		if !g[s] {
			missing = append(missing, s)
		}
	}
	for s := range g {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, unexpected %v", missing, extra)
}

// checkEnvironment compares locals.function_environment with want
// (function -> variable names).
func checkEnvironment(m *tfModule, want map[string][]string) error {
	expr, err := m.local("function_environment")
	if err != nil {
		return err
	}
	fns, err := objectItems(expr)
	if err != nil {
		return err
	}
	var errs []error
	if d := diffSets(keysOf(want), keysOf(fns)); d != "" {
		errs = append(errs, fmt.Errorf("functions with an environment: %s", d))
	}
	for _, fn := range keysOf(fns) {
		vars, err := objectItems(fns[fn])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d := diffSets(want[fn], keysOf(vars)); d != "" {
			errs = append(errs, fmt.Errorf("%s environment: %s", fn, d))
		}
	}
	return errors.Join(errs...)
}

// policyStatement is one statement of locals.function_permissions.
type policyStatement struct {
	sid       string
	actions   []string
	resources []hclsyntax.Expression
}

// functionPolicies reads locals.function_permissions.
func functionPolicies(m *tfModule) (map[string][]policyStatement, error) {
	expr, err := m.local("function_permissions")
	if err != nil {
		return nil, err
	}
	fns, err := objectItems(expr)
	if err != nil {
		return nil, err
	}
	out := map[string][]policyStatement{}
	for fn, e := range fns {
		stmts, err := tupleItems(e)
		if err != nil {
			return nil, err
		}
		for _, se := range stmts {
			items, err := objectItems(se)
			if err != nil {
				return nil, err
			}
			var st policyStatement
			if e, ok := items["sid"]; ok {
				if v, d := e.Value(nil); !d.HasErrors() && v.Type() == cty.String {
					st.sid = v.AsString()
				}
			}
			if st.actions, err = literalStrings(items["actions"]); err != nil {
				return nil, fmt.Errorf("%s statement %q actions: %w", fn, st.sid, err)
			}
			if st.resources, err = tupleItems(items["resources"]); err != nil {
				return nil, fmt.Errorf("%s statement %q resources: %w", fn, st.sid, err)
			}
			out[fn] = append(out[fn], st)
		}
	}
	return out, nil
}

// checkPolicies verifies that every call in calls (function -> IAM actions)
// is allowed by that function's policy and that no statement uses a wildcard
// action or a bare "*" resource.
func checkPolicies(m *tfModule, calls map[string][]string) error {
	pols, err := functionPolicies(m)
	if err != nil {
		return err
	}
	var errs []error
	for _, fn := range keysOf(pols) {
		for _, st := range pols[fn] {
			for _, a := range st.actions {
				if strings.Contains(a, "*") {
					errs = append(errs, fmt.Errorf("%s statement %q: wildcard action %q", fn, st.sid, a))
				}
			}
			if len(st.resources) == 0 {
				errs = append(errs, fmt.Errorf("%s statement %q: no resources", fn, st.sid))
			}
			for _, r := range st.resources {
				if v, d := r.Value(nil); !d.HasErrors() && v.Type() == cty.String && strings.Trim(v.AsString(), "*:") == "" {
					errs = append(errs, fmt.Errorf("%s statement %q: wildcard resource %q", fn, st.sid, v.AsString()))
				}
			}
		}
	}
	for _, fn := range keysOf(calls) {
		allowed := map[string]bool{}
		for _, st := range pols[fn] {
			for _, a := range st.actions {
				allowed[a] = true
			}
		}
		for _, a := range calls[fn] {
			if !allowed[a] {
				errs = append(errs, fmt.Errorf("%s calls %s but its IAM policy does not allow it", fn, a))
			}
		}
	}
	return errors.Join(errs...)
}

// zipPaths evaluates the filename and source_code_hash paths of the
// aws_lambda_function.this resource for every function and architecture.
func zipPaths(m *tfModule, packageDir string) ([]string, error) {
	fnExpr, err := m.local("function_names")
	if err != nil {
		return nil, err
	}
	fns, err := objectItems(fnExpr)
	if err != nil {
		return nil, err
	}
	archExpr, err := m.local("arch_suffix")
	if err != nil {
		return nil, err
	}
	// arch_suffix is `{ ... }[var.architecture]`; take the map.
	if ix, ok := archExpr.(*hclsyntax.IndexExpr); ok {
		archExpr = ix.Collection
	}
	archs, err := objectItems(archExpr)
	if err != nil {
		return nil, err
	}
	res, err := m.resource("aws_lambda_function", "this")
	if err != nil {
		return nil, err
	}
	fa, ok := res.Body.Attributes["filename"]
	if !ok {
		return nil, errors.New("aws_lambda_function.this has no filename")
	}
	var paths []string
	for _, fn := range keysOf(fns) {
		for _, ak := range keysOf(archs) {
			av, d := archs[ak].Value(nil)
			if d.HasErrors() || av.Type() != cty.String {
				return nil, fmt.Errorf("arch_suffix[%s] is not a constant string", ak)
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
				"var":   cty.ObjectVal(map[string]cty.Value{"lambda_package_dir": cty.StringVal(packageDir), "lambda_code_s3": cty.NullVal(cty.DynamicPseudoType)}),
				"each":  cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(fn)}),
				"local": cty.ObjectVal(map[string]cty.Value{"arch_suffix": av}),
			}}
			v, diags := fa.Expr.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("evaluate filename: %s", diags.Error())
			}
			paths = append(paths, v.AsString())
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// checkDocumented verifies that every variable has a type and a description
// and every output a description.
func checkDocumented(m *tfModule) error {
	var errs []error
	for _, b := range m.blocks("variable") {
		for _, attr := range []string{"type", "description"} {
			if _, ok := b.Body.Attributes[attr]; !ok {
				errs = append(errs, fmt.Errorf("%s: variable %q has no %s", m.dir, b.Labels[0], attr))
			}
		}
		if t, ok := b.Body.Attributes["type"]; ok {
			if tr, ok := t.Expr.(*hclsyntax.ScopeTraversalExpr); ok && tr.Traversal.RootName() == "any" {
				errs = append(errs, fmt.Errorf("%s: variable %q has type any", m.dir, b.Labels[0]))
			}
		}
		if d, ok := b.Body.Attributes["description"]; ok {
			if v, diags := d.Expr.Value(nil); diags.HasErrors() || v.Type() != cty.String || strings.TrimSpace(v.AsString()) == "" {
				errs = append(errs, fmt.Errorf("%s: variable %q has an empty description", m.dir, b.Labels[0]))
			}
		}
	}
	for _, b := range m.blocks("output") {
		if _, ok := b.Body.Attributes["description"]; !ok {
			errs = append(errs, fmt.Errorf("%s: output %q has no description", m.dir, b.Labels[0]))
		}
	}
	return errors.Join(errs...)
}
