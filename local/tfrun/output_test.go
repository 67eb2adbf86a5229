package tfrun

import (
	"encoding/json"
	"testing"
)

func TestDecodeOutput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "values", in: `{"a":{"sensitive":false,"type":"string","value":"x"},"m":{"type":["map","string"],"value":{"k":"v"}}}`,
			want: map[string]string{"a": `"x"`, "m": `{"k":"v"}`}},
		{name: "empty", in: `{}`, want: map[string]string{}},
		{name: "not json", in: `Warning: no outputs`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeOutput([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d outputs, want %d", len(got), len(tc.want))
			}
			for k, v := range tc.want {
				if string(got[k]) != v {
					t.Errorf("%s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func FuzzDecodeOutput(f *testing.F) {
	f.Add([]byte(`{"a":{"value":1}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeOutput(in)
		if err != nil {
			return
		}
		for k, v := range got {
			if len(v) > 0 && !json.Valid(v) {
				t.Fatalf("output %q has invalid JSON %q", k, v)
			}
		}
	})
}
