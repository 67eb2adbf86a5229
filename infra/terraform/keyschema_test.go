package terraform_test

import (
	"testing"

	"github.com/spillwayhq/spillway/shared/layout"
)

// TestKeySchemaMatchesLayout: the key attributes the module declares for
// each DynamoDB table are the ones shared/layout formats keys for, so a
// rename on either side fails here, not in a deployed function.
func TestKeySchemaMatchesLayout(t *testing.T) {
	m := parseModule(t, moduleDir)
	tests := []struct {
		table, hash, rng string
	}{
		{"catalog", layout.AttrCatalogDB, layout.AttrCatalogTable},
		{"ledger", layout.AttrLedgerID, ""},
		{"manifests", layout.AttrPK, layout.AttrSK},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			blk, err := m.resource("aws_dynamodb_table", tt.table)
			if err != nil {
				t.Fatal(err)
			}
			for attr, want := range map[string]string{"hash_key": tt.hash, "range_key": tt.rng} {
				got := ""
				if a, ok := blk.Body.Attributes[attr]; ok {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("%s: %s", attr, diags)
					}
					got = v.AsString()
				}
				if got != want {
					t.Errorf("%s.%s = %q, shared/layout says %q", tt.table, attr, got, want)
				}
			}
		})
	}
}
