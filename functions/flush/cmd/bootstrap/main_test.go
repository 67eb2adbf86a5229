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
		eps      []string
		mentions []string
	}{
		{name: "defaults", seal: 64 << 20},
		{name: "endpoints and seal target", change: map[string]string{
			lambdaenv.TDEndpoints: "https://a.example, https://b.example/,", lambdaenv.SealTargetBytes: "1", lambdaenv.TDAPIKeySecret: "arn:s",
		}, seal: 1, eps: []string{"https://a.example", "https://b.example/"}},
		{name: "every bad variable at once", change: map[string]string{
			lambdaenv.CatalogTable: "", lambdaenv.SealTargetBytes: "64MiB", lambdaenv.LateWindow: "2",
		}, mentions: []string{"CatalogTable: required", lambdaenv.SealTargetBytes, lambdaenv.LateWindow}},
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
				if c.SealTargetBytes != tc.seal || !reflect.DeepEqual(e.TDEndpoints, tc.eps) {
					t.Errorf("seal target %d, endpoints %q; want %d, %q", c.SealTargetBytes, e.TDEndpoints, tc.seal, tc.eps)
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
