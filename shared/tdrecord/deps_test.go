package tdrecord

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package linkable by the forwarder and every
// function: the standard library, klauspost/compress, vmihailenco/msgpack and
// tinylib/msgp (its allocation-free appenders) only (no AWS SDK, no aws-lambda-go, nothing of this module).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"github.com/klauspost/compress", "github.com/vmihailenco/msgpack/v5", "github.com/vmihailenco/tagparser/v2", "github.com/tinylib/msgp/msgp", "github.com/philhofer/fwd", "github.com/spillwayhq/spillway/shared/tdrecord"}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
		}
		if !ok {
			t.Errorf("tdrecord depends on %s", dep)
		}
	}
}
