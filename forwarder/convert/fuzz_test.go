package convert

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConvert feeds arbitrary text to Parse and Convert: neither may
// panic, and whatever Convert writes is YAML.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("<source>\n type tail\n tag a.*\n</source>\n<match {a,b}.**>\n type tdlog\n</match>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Parse(data)
		if err != nil {
			return
		}
		res, err := Convert(root, "fuzz.conf")
		if err != nil {
			return
		}
		var v any
		if err := yaml.Unmarshal(res.YAML, &v); err != nil {
			t.Fatalf("Convert wrote invalid YAML: %v\n%s", err, res.YAML)
		}
	})
}
