package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestReload(t *testing.T) {
	base, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		edit           string // appended to minimal
		apply, restart []string
	}{
		{"nothing changed", "", nil, nil},
		{"level and file", "log: {level: debug, file: /tmp/x.log}\n", []string{"log.file", "log.level"}, nil},
		{"buffer needs a restart", "buffer: {chunk_limit: 1m}\n", nil, []string{"buffer.chunk_limit"}},
		{"mixed", "log: {level: warn, format: text}\nmonitor: {addr: \"127.0.0.1:9\"}\n", []string{"log.level"}, []string{"log.format", "monitor.addr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := Parse([]byte(minimal + tt.edit))
			if err != nil {
				t.Fatal(err)
			}
			apply, restart := Reload(base, next)
			if !reflect.DeepEqual(apply, tt.apply) || !reflect.DeepEqual(restart, tt.restart) {
				t.Fatalf("apply %v restart %v, want %v %v", apply, restart, tt.apply, tt.restart)
			}
		})
	}
	next, err := Parse([]byte(strings.Replace(minimal, "type: apache2", "type: json", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, restart := Reload(base, next); !reflect.DeepEqual(restart, []string{"sources.tail[0].parse.type"}) {
		t.Fatalf("restart %v", restart)
	}
}
