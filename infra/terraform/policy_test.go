package terraform_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// kmsNeed is what a role allowed an action needs on a customer-managed key.
type kmsNeed struct {
	key     string   // attribute of var.kms
	actions []string // kms: actions
}

// kmsNeeds maps an allowed action's service prefix (or the action) to the
// key and kms: actions it needs when that key is given (AWS docs: S3 SSE-KMS
// PutObject GenerateDataKey (+ Decrypt for multipart), GetObject Decrypt;
// Kinesis SSE producers GenerateDataKey, consumers Decrypt; SQS SSE senders
// GenerateDataKey + Decrypt; DynamoDB and Secrets Manager Decrypt).
var kmsNeeds = map[string]kmsNeed{
	"kinesis:PutRecords":            {"kinesis", []string{"kms:GenerateDataKey"}},
	"kinesis:GetRecords":            {"kinesis", []string{"kms:Decrypt"}},
	"s3:PutObject":                  {"s3", []string{"kms:GenerateDataKey", "kms:Decrypt"}},
	"s3:GetObject":                  {"s3", []string{"kms:Decrypt"}},
	"sqs:SendMessage":               {"sqs", []string{"kms:GenerateDataKey", "kms:Decrypt"}},
	"secretsmanager:GetSecretValue": {"secrets", []string{"kms:Decrypt"}},
	"dynamodb:":                     {"dynamodb", []string{"kms:Decrypt"}},
	"logs:PutLogEvents":             {"lambda", []string{"kms:Decrypt"}}, // every function: its environment
}

// keyPolicyOnly lists var.kms keys that no role uses: CloudWatch Logs
// encrypts as the logs service principal, which only the key policy can
// allow (the module outputs the statement).
var keyPolicyOnly = []string{"logs"}

// kmsStatement is one entry of locals.kms_permissions.
type kmsStatement struct {
	sid, key, service, context string
	actions                    []string
}

func kmsPermissions(m *tfModule) (map[string][]kmsStatement, error) {
	expr, err := m.local("kms_permissions")
	if err != nil {
		return nil, err
	}
	fns, err := objectItems(expr)
	if err != nil {
		return nil, err
	}
	str := func(items map[string]hclsyntax.Expression, k string) string {
		e, ok := items[k]
		if !ok {
			return ""
		}
		v, d := e.Value(nil)
		if d.HasErrors() || v.Type() != cty.String {
			return ""
		}
		return v.AsString()
	}
	out := map[string][]kmsStatement{}
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
			st := kmsStatement{sid: str(items, "sid"), key: str(items, "key"), service: str(items, "service"), context: str(items, "context")}
			if st.actions, err = literalStrings(items["actions"]); err != nil {
				return nil, fmt.Errorf("%s kms statement %q: %w", fn, st.sid, err)
			}
			out[fn] = append(out[fn], st)
		}
	}
	return out, nil
}

// kmsAttributes lists the attributes of variable "kms".
func kmsAttributes(m *tfModule) ([]string, error) {
	for _, b := range m.blocks("variable") {
		if b.Labels[0] != "kms" {
			continue
		}
		fc, ok := b.Body.Attributes["type"].Expr.(*hclsyntax.FunctionCallExpr)
		if !ok || fc.Name != "object" {
			return nil, errors.New(`variable "kms" is not an object`)
		}
		items, err := objectItems(fc.Args[0])
		if err != nil {
			return nil, err
		}
		return keysOf(items), nil
	}
	return nil, fmt.Errorf("%s: no variable kms", m.dir)
}

// checkKMS verifies that for every key in var.kms, every function whose role
// is allowed an action needing that key has a KMS statement for it with the
// needed kms: actions, a ViaService service and an encryption context, and
// that no KMS statement grants what no allowed action needs.
func checkKMS(m *tfModule) error {
	pols, err := functionPolicies(m)
	if err != nil {
		return err
	}
	grants, err := kmsPermissions(m)
	if err != nil {
		return err
	}
	attrs, err := kmsAttributes(m)
	if err != nil {
		return err
	}
	var errs []error
	granted := map[string]bool{}
	for _, fn := range keysOf(pols) {
		need := map[string]map[string]bool{} // key -> kms actions
		for _, st := range pols[fn] {
			for _, a := range st.actions {
				for pfx, n := range kmsNeeds {
					if a == pfx || (strings.HasSuffix(pfx, ":") && strings.HasPrefix(a, pfx)) {
						if need[n.key] == nil {
							need[n.key] = map[string]bool{}
						}
						for _, ka := range n.actions {
							need[n.key][ka] = true
						}
					}
				}
			}
		}
		have := map[string]map[string]bool{}
		for _, g := range grants[fn] {
			if !slices.Contains(attrs, g.key) {
				errs = append(errs, fmt.Errorf("%s kms statement %q: key %q is not an attribute of var.kms", fn, g.sid, g.key))
			}
			if g.service == "" || g.context == "" {
				errs = append(errs, fmt.Errorf("%s kms statement %q: needs a kms:ViaService service and an encryption context", fn, g.sid))
			}
			if have[g.key] == nil {
				have[g.key] = map[string]bool{}
			}
			for _, a := range g.actions {
				have[g.key][a] = true
				if !need[g.key][a] {
					errs = append(errs, fmt.Errorf("%s kms statement %q grants %s on kms.%s, which none of its allowed actions needs", fn, g.sid, a, g.key))
				}
			}
			granted[g.key] = true
		}
		for _, key := range keysOf(need) {
			for _, a := range keysOf(need[key]) {
				if !have[key][a] {
					errs = append(errs, fmt.Errorf("%s: with kms.%s given, its role needs %s on that key (kms_permissions), but no statement grants it", fn, key, a))
				}
			}
		}
	}
	for _, a := range attrs {
		if !granted[a] && !slices.Contains(keyPolicyOnly, a) {
			errs = append(errs, fmt.Errorf("kms.%s: a CMK given here is granted to no role", a))
		}
	}
	return errors.Join(errs...)
}

func TestKMSGrants(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		mentions []string
	}{
		{name: "module", dir: moduleDir},
		{name: "fixture without grants", dir: "testdata/bad/kms", mentions: []string{
			"fanout: with kms.kinesis given, its role needs kms:Decrypt",
			"ingest kms statement \"KinesisKey\" grants kms:Decrypt on kms.kinesis, which none of its allowed actions needs",
			"ingest: with kms.kinesis given, its role needs kms:GenerateDataKey",
			"kms.s3: a CMK given here is granted to no role",
			"needs a kms:ViaService service and an encryption context",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkKMS(parseModule(t, tc.dir)), tc.mentions)
		})
	}
}

// unvalidated lists variables whose domain is not constrained, with why.
var unvalidated = map[string]string{
	"td_apikeys":      "secret values of any form",
	"tracing_enabled": "bool",
	"auto_create":     "bool",
}

// checkValidated verifies that every variable not of type bool and not in
// unvalidated has a validation block, and that for object-typed variables
// every non-bool attribute is referenced by one of its validation conditions.
func checkValidated(m *tfModule) error {
	var errs []error
	for _, b := range m.blocks("variable") {
		name := b.Labels[0]
		if _, ok := unvalidated[name]; ok {
			continue
		}
		typ := b.Body.Attributes["type"].Expr
		if tr, ok := typ.(*hclsyntax.ScopeTraversalExpr); ok && tr.Traversal.RootName() == "bool" {
			continue
		}
		var conds []hclsyntax.Expression
		for _, v := range b.Body.Blocks {
			if v.Type == "validation" {
				if c, ok := v.Body.Attributes["condition"]; ok {
					conds = append(conds, c.Expr)
				}
			}
		}
		if len(conds) == 0 {
			errs = append(errs, fmt.Errorf("variable %q has a constrained domain and no validation", name))
			continue
		}
		fc, ok := typ.(*hclsyntax.FunctionCallExpr)
		if !ok || fc.Name != "object" {
			continue
		}
		items, err := objectItems(fc.Args[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		referenced := map[string]bool{}
		for _, c := range conds {
			for _, tr := range c.Variables() {
				if len(tr) >= 3 && tr.RootName() == "var" {
					if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
						if at, ok := tr[2].(hcl.TraverseAttr); ok {
							referenced[at.Name] = true
						}
					}
				}
			}
			// Attributes reached through a list of the object's members
			// (for f in [var.x.a, var.x.b] : f.memory_size) count by name.
			src := string(c.Range().SliceBytes(fileBytes(m, c.Range().Filename)))
			for attr := range items {
				if strings.Contains(src, "."+attr) {
					referenced[attr] = true
				}
			}
		}
		for _, attr := range keysOf(items) {
			if isBoolAttr(items[attr]) || referenced[attr] {
				continue
			}
			errs = append(errs, fmt.Errorf("variable %q: attribute %q has no validation", name, attr))
		}
	}
	return errors.Join(errs...)
}

// isBoolAttr reports whether an object attribute's type is bool or
// optional(bool, ...).
func isBoolAttr(e hclsyntax.Expression) bool {
	if fc, ok := e.(*hclsyntax.FunctionCallExpr); ok && fc.Name == "optional" {
		e = fc.Args[0]
	}
	tr, ok := e.(*hclsyntax.ScopeTraversalExpr)
	return ok && tr.Traversal.RootName() == "bool"
}

func TestVariablesValidated(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		mentions []string
	}{
		{name: "module", dir: moduleDir},
		{name: "fixture without validations", dir: "testdata/bad/validation", mentions: []string{
			`variable "retention" has a constrained domain and no validation`,
			`variable "esm": attribute "starting_position" has no validation`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkValidated(parseModule(t, tc.dir)), tc.mentions)
		})
	}
}

// fileBytes returns the source of one of m's files (nil if unreadable).
func fileBytes(_ *tfModule, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	return b
}

// checkLogMetrics verifies that every locals.log_metrics message is logged
// (as a Go string literal) by the named function's non-test Go files, so a
// renamed log message cannot silently blind an alarm.
func checkLogMetrics(m *tfModule, fnDir func(string) string) error {
	expr, err := m.local("log_metrics")
	if err != nil {
		return err
	}
	metrics, err := objectItems(expr)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range keysOf(metrics) {
		items, err := objectItems(metrics[name])
		if err != nil {
			return err
		}
		fn, msg := exprString(items["function"]), exprString(items["msg"])
		src, err := goSource(fnDir(fn))
		if err != nil {
			return err
		}
		if !strings.Contains(src, strconv.Quote(msg)) {
			errs = append(errs, fmt.Errorf("log metric %s: %s never logs %q", name, fn, msg))
		}
	}
	return errors.Join(errs...)
}

// goSource returns the non-test Go files of dir, concatenated.
func goSource(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		src.Write(b)
	}
	return src.String(), nil
}

// exprString evaluates a constant string expression ("" otherwise).
func exprString(e hclsyntax.Expression) string {
	if e == nil {
		return ""
	}
	v, d := e.Value(nil)
	if d.HasErrors() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func TestLogMetricsMatchGoLogs(t *testing.T) {
	tests := []struct {
		name     string
		dir      func(string) string
		mentions []string
	}{
		{name: "functions", dir: func(fn string) string { return filepath.Join(repoRoot, "functions", fn) }},
		{name: "wrong directory", dir: func(string) string { return "testdata" }, mentions: []string{`flush never logs "flush done"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkLogMetrics(parseModule(t, moduleDir), tc.dir), tc.mentions)
		})
	}
}
