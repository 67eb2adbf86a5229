package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{lambdaenv.Bucket: "b", lambdaenv.CatalogTable: "c", lambdaenv.ManifestTable: "m"}
	tests := []struct {
		name     string
		change   map[string]string
		seal     int64
		maxRows  int64
		eps      []string
		mentions []string
	}{
		{name: "defaults", seal: 64 << 20, maxRows: 200_000},
		{name: "endpoints and seal target", change: map[string]string{
			lambdaenv.TDEndpoints: "https://a.example, https://b.example/,", lambdaenv.SealTargetBytes: "1", lambdaenv.TDAPIKeySecret: "arn:s",
			lambdaenv.LakeCompactMaxRows: "1000",
		}, seal: 1, maxRows: 1000, eps: []string{"https://a.example", "https://b.example/"}},
		{name: "every bad variable at once", change: map[string]string{
			lambdaenv.CatalogTable: "", lambdaenv.SealTargetBytes: "64MiB", lambdaenv.LateWindow: "2", lambdaenv.LakeCompactMaxRows: "0",
		}, mentions: []string{"CatalogTable: required", lambdaenv.SealTargetBytes, lambdaenv.LateWindow, lambdaenv.LakeCompactMaxRows}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.change {
				env[k] = v
			}
			c, e, err := configFromEnv(lambdaenv.MapLookup(env))
			if len(tc.mentions) == 0 {
				if err != nil {
					t.Fatalf("configFromEnv: %v", err)
				}
				if c.SealTargetBytes != tc.seal || e.LakeCompactMaxRows != tc.maxRows || !reflect.DeepEqual(e.TDEndpoints, tc.eps) {
					t.Errorf("seal target %d, compact max rows %d, endpoints %q; want %d, %d, %q",
						c.SealTargetBytes, e.LakeCompactMaxRows, e.TDEndpoints, tc.seal, tc.maxRows, tc.eps)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %v", tc.mentions)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not name %s:\n%v", m, err)
				}
			}
		})
	}
}
