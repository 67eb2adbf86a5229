package lambdaenv

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// target is a config the loader fills in the tests.
type target struct {
	S  string
	B  bool
	I  int
	I6 int64
	D  time.Duration
	H  time.Duration
	L  []string
}

func defaults() target {
	return target{S: "def", B: true, I: 8, I6: 64, D: 10 * time.Minute, H: 192 * time.Hour, L: []string{"a"}}
}

func load(env map[string]string) (target, error) {
	l := NewLoader(MapLookup(env))
	c := defaults()
	l.String("S", &c.S)
	l.Bool("B", &c.B)
	l.Int("I", &c.I)
	l.Int64("I6", &c.I6)
	l.Duration("D", &c.D)
	l.Hours("H", &c.H)
	l.List("L", &c.L)
	return c, l.Err()
}

func TestLoader(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		want     target
		mentions []string // every bad variable, reported at once
	}{
		{name: "unset keeps defaults", env: nil, want: defaults()},
		{name: "empty keeps defaults", env: map[string]string{"S": "", "B": " ", "I": "", "H": ""}, want: defaults()},
		{
			name: "every type",
			env:  map[string]string{"S": "x", "B": "false", "I": "3", "I6": "1099511627776", "D": "2h30m", "H": "216", "L": " u1 , ,u2,"},
			want: target{S: "x", B: false, I: 3, I6: 1 << 40, D: 150 * time.Minute, H: 216 * time.Hour, L: []string{"u1", "u2"}},
		},
		{
			name:     "every bad variable at once",
			env:      map[string]string{"S": "ok", "B": "maybe", "I": "1.5", "I6": "x", "D": "10", "H": "-1"},
			want:     func() target { c := defaults(); c.S = "ok"; return c }(),
			mentions: []string{`B="maybe"`, `I="1.5"`, `I6="x"`, `D="10"`, `H="-1"`},
		},
		{name: "hours overflow", env: map[string]string{"H": "9999999999"}, want: defaults(), mentions: []string{`H="9999999999"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := load(tc.env)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("config = %+v, want %+v", got, tc.want)
			}
			if len(tc.mentions) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
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
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.mentions) {
				t.Errorf("%d problems reported, want %d:\n%v", n, len(tc.mentions), err)
			}
		})
	}
}

func TestLoaderLevel(t *testing.T) {
	tests := map[string]slog.Level{"debug": slog.LevelDebug, "WARN": slog.LevelWarn, "error": slog.LevelError, "info": slog.LevelInfo, "": slog.LevelInfo, "x": slog.LevelInfo}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			l := NewLoader(MapLookup(map[string]string{LogLevel: in}))
			if got := l.Level(); got != want {
				t.Errorf("Level() with %q = %v, want %v", in, got, want)
			}
			if err := l.Err(); err != nil {
				t.Errorf("a bad level is not an error: %v", err)
			}
		})
	}
}

func TestByFunctionNamesAreUnique(t *testing.T) {
	for fn, names := range ByFunction {
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] || !strings.HasPrefix(n, "SPILLWAY_") {
				t.Errorf("%s: %s is repeated or not a SPILLWAY_ variable", fn, n)
			}
			seen[n] = true
		}
	}
}
