package terraform_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Markers around the generated tables in the module README.
const (
	docsBegin = "<!-- BEGIN_TF_DOCS: generated from variables.tf and outputs.tf by docs_test.go (SPILLWAY_UPDATE_README=1 go test ./infra/terraform -run TestREADMETables) -->"
	docsEnd   = "<!-- END_TF_DOCS -->"
)

var spaces = regexp.MustCompile(`\s+`)

// source returns e's text with runs of white space collapsed.
func source(e hclsyntax.Expression) string {
	b, err := os.ReadFile(e.Range().Filename)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(spaces.ReplaceAllString(string(e.Range().SliceBytes(b)), " "))
}

// renderType shows a type constraint with object types reduced to their
// attribute names (variables.tf holds the full types and defaults).
func renderType(e hclsyntax.Expression) string {
	fc, ok := e.(*hclsyntax.FunctionCallExpr)
	if !ok {
		return source(e)
	}
	if fc.Name == "object" && len(fc.Args) == 1 {
		if items, err := objectItems(fc.Args[0]); err == nil {
			return "object({" + strings.Join(keysOf(items), ", ") + "})"
		}
	}
	if len(fc.Args) >= 1 {
		return fc.Name + "(" + renderType(fc.Args[0]) + ")"
	}
	return source(e)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// docsTables renders the inputs and outputs tables of m, in file order.
func docsTables(m *tfModule) string {
	var sb strings.Builder
	sb.WriteString("### Inputs\n\n| name | type | default | description |\n|---|---|---|---|\n")
	for _, b := range m.blocks("variable") {
		def := "required"
		if a, ok := b.Body.Attributes["default"]; ok {
			def = "`" + source(a.Expr) + "`"
		}
		typ := "?"
		if a, ok := b.Body.Attributes["type"]; ok {
			typ = renderType(a.Expr)
		}
		fmt.Fprintf(&sb, "| `%s` | `%s` | %s | %s |\n", b.Labels[0], cell(typ), cell(def), cell(attrString(b, "description")))
	}
	sb.WriteString("\n### Outputs\n\n| name | description |\n|---|---|\n")
	for _, b := range m.blocks("output") {
		fmt.Fprintf(&sb, "| `%s` | %s |\n", b.Labels[0], cell(attrString(b, "description")))
	}
	return sb.String()
}

// attrString evaluates a constant string attribute of b ("" if absent).
func attrString(b *hclsyntax.Block, name string) string {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	v, d := a.Expr.Value(nil)
	if d.HasErrors() || v.Type() != cty.String {
		return source(a.Expr)
	}
	return v.AsString()
}

// TestREADMETables checks that the module README's inputs and outputs tables
// are the ones generated from the .tf files (set SPILLWAY_UPDATE_README=1 to
// rewrite them).
func TestREADMETables(t *testing.T) {
	path := moduleDir + "/README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, docsBegin), strings.Index(readme, docsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q ... %q", path, docsBegin, docsEnd)
	}
	want := docsTables(parseModule(t, moduleDir))
	got := strings.TrimSpace(readme[i+len(docsBegin) : j])
	if got == strings.TrimSpace(want) {
		return
	}
	if os.Getenv("SPILLWAY_UPDATE_README") == "1" {
		out := readme[:i+len(docsBegin)] + "\n" + want + readme[j:]
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the tables in %s", path)
		return
	}
	t.Fatalf("%s: inputs/outputs tables are stale; run SPILLWAY_UPDATE_README=1 go test ./infra/terraform -run TestREADMETables", path)
}
