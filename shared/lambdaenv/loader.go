package lambdaenv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Loader reads typed values from environment variables into a config that
// starts from its component's DefaultConfig. A variable that is unset or
// empty leaves the default; a variable that does not parse leaves it too and
// is recorded, so that Err reports every bad variable at once.
//
//	env := lambdaenv.NewLoader(os.LookupEnv)
//	cfg := fanout.DefaultConfig()
//	env.String(lambdaenv.Bucket, &cfg.Bucket)
//	env.Hours(lambdaenv.LedgerTTLHours, &cfg.LedgerTTL)
//	if err := errors.Join(env.Err(), cfg.Validate()); err != nil { ... }
type Loader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// NewLoader returns a Loader reading variables with lookup (os.LookupEnv in
// main, a map in tests). A nil lookup means os.LookupEnv.
func NewLoader(lookup func(string) (string, bool)) *Loader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Loader{lookup: lookup}
}

// MapLookup returns a lookup function over m, for tests.
func MapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// get returns the trimmed value of name and whether it is set and not empty.
func (l *Loader) get(name string) (string, bool) {
	v, ok := l.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// bad records that name holds a value that does not parse.
func (l *Loader) bad(name, v string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: %w", name, v, err))
}

// String sets *dst to the value of name.
func (l *Loader) String(name string, dst *string) {
	if v, ok := l.get(name); ok {
		*dst = v
	}
}

// Bool sets *dst to the value of name, parsed by strconv.ParseBool.
func (l *Loader) Bool(name string, dst *bool) {
	if v, ok := l.get(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.bad(name, v, errors.New("not a boolean (true or false)"))
			return
		}
		*dst = b
	}
}

// Int sets *dst to the value of name, a decimal integer.
func (l *Loader) Int(name string, dst *int) {
	if v, ok := l.get(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.bad(name, v, errors.New("not an integer"))
			return
		}
		*dst = n
	}
}

// Int64 sets *dst to the value of name, a decimal integer.
func (l *Loader) Int64(name string, dst *int64) {
	if v, ok := l.get(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			l.bad(name, v, errors.New("not an integer"))
			return
		}
		*dst = n
	}
}

// Duration sets *dst to the value of name, a Go duration such as "10m".
func (l *Loader) Duration(name string, dst *time.Duration) {
	if v, ok := l.get(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.bad(name, v, errors.New(`not a Go duration such as "10m" or "2h"`))
			return
		}
		*dst = d
	}
}

// Hours sets *dst to the value of name, a whole number of hours (the unit
// of the *_HOURS variables, as Terraform writes them).
func (l *Loader) Hours(name string, dst *time.Duration) {
	if v, ok := l.get(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || int64(n) > int64(1<<63-1)/int64(time.Hour) {
			l.bad(name, v, errors.New("not a whole number of hours"))
			return
		}
		*dst = time.Duration(n) * time.Hour
	}
}

// List sets *dst to the comma-separated items of name, each trimmed, empty
// items dropped.
func (l *Loader) List(name string, dst *[]string) {
	if v, ok := l.get(name); ok {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		*dst = out
	}
}

// Err reports every variable that did not parse, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// Level returns the slog level SPILLWAY_LOG_LEVEL names (case-insensitive
// debug, info, warn, error). It is deliberately lenient: an unset or unknown
// value gives info, so that a log setting never stops a function (Terraform
// validates log_level).
func (l *Loader) Level() slog.Level {
	var lv slog.Level
	v, ok := l.get(LogLevel)
	if !ok || lv.UnmarshalText([]byte(v)) != nil {
		return slog.LevelInfo
	}
	return lv
}
