// Package parser owns the forwarder's line parsers: it turns one log line
// into one Treasure Data import record (a msgpack map with an integer
// "time"), with output identical to Fluentd's parser plugins (apache2,
// apache_error, nginx, json, ltsv, csv, tsv, syslog, regexp, none).
//
// Parsers are not safe for concurrent use (apache2 and nginx cache the last
// parsed timestamp); create one per goroutine with New.
package parser

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Sentinel errors. Every AppendRecord error wraps ErrNoMatch, so callers can
// treat "line could not be parsed" with one errors.Is check; the more
// specific ErrTime is wrapped as well when only the time field was bad.
var (
	// ErrNoMatch means the line does not have the parser's format.
	ErrNoMatch = errors.New("line does not match the format")
	// ErrTime means the line matched but its time field could not be parsed
	// with the configured time format. It always comes with ErrNoMatch.
	ErrTime = errors.New("bad time value")
	// ErrConfig is wrapped by every New/Validate error.
	ErrConfig = errors.New("invalid parser config")
)

// configError is one problem of a Config, led by its field path (the YAML
// key), so that callers can put their own path in front
// (sources.tail[0].parse.keys: ...). It wraps ErrConfig.
type configError struct{ field, msg string }

func (e *configError) Error() string { return e.field + ": " + e.msg }
func (e *configError) Unwrap() error { return ErrConfig }

func newConfigError(field, format string, args ...any) error {
	return &configError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Parser turns one line into one record.
type Parser interface {
	// AppendRecord appends one msgpack map (the parsed record with an
	// integer "time" key, Unix seconds; now when the line carries no time)
	// to dst. On error it returns dst unchanged and an error wrapping
	// ErrNoMatch.
	AppendRecord(dst, line []byte, now time.Time) ([]byte, error)
}

// Parser types accepted in Config.Type.
const (
	TypeApache2     = "apache2"
	TypeApacheError = "apache_error"
	TypeNginx       = "nginx"
	TypeJSON        = "json"
	TypeLTSV        = "ltsv"
	TypeCSV         = "csv"
	TypeTSV         = "tsv"
	TypeSyslog      = "syslog"
	TypeRegexp      = "regexp"
	TypeNone        = "none"
)

// Config selects and configures a parser. Field names follow Fluentd's
// <parse> section; a zero field means Fluentd's default (see DefaultConfig).
type Config struct {
	// Type is the parser: apache2, apache_error, nginx, json, ltsv, csv,
	// tsv, syslog, regexp or none.
	Type string `yaml:"type"`
	// Format selects the syslog flavour: rfc3164 (default), rfc5424 or auto.
	Format string `yaml:"format"`
	// WithPriority (syslog rfc3164) expects a leading <PRI>.
	WithPriority bool `yaml:"with_priority"`
	// Expression is the regexp parser's pattern, in Ruby form (/.../flags
	// with named groups) or bare.
	Expression string `yaml:"expression"`
	// TimeFormat is a strptime format (Ruby directives) for the time field.
	// Empty: the parser's own default (e.g. apache2), numeric seconds for
	// json, a lenient parse otherwise.
	TimeFormat string `yaml:"time_format"`
	// TimeKey names the field holding the event time (default "time").
	TimeKey string `yaml:"time_key"`
	// KeepTimeKey keeps the time field in the record. Note that the record's
	// "time" key always ends up as the integer event time (as with
	// Fluentd's TD output), so this only matters when TimeKey is not "time".
	KeepTimeKey bool `yaml:"keep_time_key"`
	// Timezone for times without a zone: an IANA name or +hh:mm. Default:
	// the machine's local zone (Fluentd's localtime true). "UTC" for UTC.
	Timezone string `yaml:"timezone"`
	// Keys names the columns of csv and tsv (required for them).
	Keys []string `yaml:"keys"`
	// Delimiter separates csv (default ","), tsv (default "\t") and ltsv
	// (default "\t") fields.
	Delimiter string `yaml:"delimiter"`
	// LabelDelimiter separates an ltsv label from its value (default ":").
	LabelDelimiter string `yaml:"label_delimiter"`
	// MessageKey is the none parser's field (default "message").
	MessageKey string `yaml:"message_key"`
	// Types casts fields, Fluentd syntax "name:type[:option],...", types
	// string, integer, float, bool, time[:format], array[:delimiter].
	Types string `yaml:"types"`
	// NullValuePattern turns string fields matching it into nil.
	NullValuePattern string `yaml:"null_value_pattern"`
	// NullEmptyString turns empty string fields into nil.
	NullEmptyString bool `yaml:"null_empty_string"`
}

// DefaultConfig returns Fluentd's <parse> defaults that hold for every
// parser type: time_key "time", message_key "message", label_delimiter ":".
// Type has no default: it is required. The defaults that follow from Type
// are derived, not stored here: delimiter ("," for csv, "\t" for tsv and
// ltsv) and, for syslog, format rfc3164. Validate and New read a zero field
// as its default, so a Config need not start from DefaultConfig;
// forwarder/config fills a decoded file's zero fields from it.
func DefaultConfig() Config {
	return Config{TimeKey: "time", MessageKey: "message", LabelDelimiter: ":"}
}

// withDefaults fills the zero fields of cfg from DefaultConfig and derives
// the defaults that depend on Type.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.TimeKey == "" {
		cfg.TimeKey = d.TimeKey
	}
	if cfg.MessageKey == "" {
		cfg.MessageKey = d.MessageKey
	}
	if cfg.LabelDelimiter == "" {
		cfg.LabelDelimiter = d.LabelDelimiter
	}
	if cfg.Delimiter == "" {
		switch cfg.Type {
		case TypeCSV:
			cfg.Delimiter = ","
		case TypeTSV, TypeLTSV:
			cfg.Delimiter = "\t"
		}
	}
	if cfg.Type == TypeSyslog && cfg.Format == "" {
		cfg.Format = "rfc3164"
	}
	return cfg
}

// Validate reports every problem of cfg at once (errors.Join), each led by
// its field path and wrapping ErrConfig. Zero fields are read as their
// defaults.
func (cfg Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, newConfigError(field, format, args...))
	}
	switch cfg.Type {
	case TypeApache2, TypeApacheError, TypeNginx, TypeJSON, TypeLTSV, TypeNone:
	case TypeCSV, TypeTSV:
		if len(cfg.Keys) == 0 {
			add("keys", "required for %s", cfg.Type)
		}
	case TypeSyslog:
		switch cfg.Format {
		case "", "rfc3164", "rfc5424", "auto":
		default:
			add("format", "%q is not rfc3164, rfc5424 or auto", cfg.Format)
		}
	case TypeRegexp:
		if cfg.Expression == "" {
			add("expression", "required for regexp")
		} else if _, err := compileRuby(cfg.Expression); err != nil {
			add("expression", "%v", err)
		}
	case "":
		add("type", "required")
	default:
		add("type", "unknown parser %q", cfg.Type)
	}
	if cfg.Timezone != "" {
		if _, err := loadZone(cfg.Timezone); err != nil {
			add("timezone", "%v", err)
		}
	}
	if cfg.Types != "" {
		if _, err := parseTypes(cfg.Types, time.UTC); err != nil {
			add("types", "%v", err)
		}
	}
	if cfg.NullValuePattern != "" {
		if _, err := compileRuby(cfg.NullValuePattern); err != nil {
			add("null_value_pattern", "%v", err)
		}
	}
	if cfg.Type == TypeCSV && len([]rune(cfg.withDefaults().Delimiter)) != 1 {
		add("delimiter", "csv needs a one-character delimiter")
	}
	return errors.Join(errs...)
}

// New builds the parser cfg describes; zero fields take their defaults.
func New(cfg Config) (Parser, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc := time.Local
	if cfg.Timezone != "" {
		loc, _ = loadZone(cfg.Timezone)
	}
	c, err := newCommon(cfg, loc)
	if err != nil {
		return nil, err
	}
	switch cfg.Type {
	case TypeApache2:
		return newApache(c, false), nil
	case TypeNginx:
		return newApache(c, true), nil
	case TypeApacheError:
		return newRegexpParser(c, apacheErrorRegexp), nil
	case TypeRegexp:
		re, _ := compileRuby(cfg.Expression)
		return newRegexpParser(c, re), nil
	case TypeSyslog:
		return newSyslog(c), nil
	case TypeJSON:
		return &jsonParser{c: c}, nil
	case TypeLTSV:
		return &ltsvParser{c: c}, nil
	case TypeCSV:
		return &csvParser{c: c, comma: []rune(cfg.Delimiter)[0]}, nil
	case TypeTSV:
		return &tsvParser{c: c}, nil
	default: // TypeNone
		return &noneParser{c: c}, nil
	}
}

// UnmatchedKey is the field of the fallback record AppendUnparsed writes.
const UnmatchedKey = "unmatched_line"

// AppendUnparsed appends the fallback record for a line no parser accepted:
// {"unmatched_line": line, "time": now}. This is exactly the record
// Fluentd's in_tail emits with emit_unmatched_lines true; the key itself is
// the marker (a parsed record never has it unless the user's format names a
// field so), and queries find failures with "unmatched_line IS NOT NULL".
// (Fluentd's filter_parser reserve_data would instead pass the original
// {"message": line} on and send the error to @ERROR; a tailed line has no
// original record, so in_tail's form is the faithful one here.)
func AppendUnparsed(dst, line []byte, now time.Time) []byte {
	dst = msgp.AppendMapHeader(dst, uint32(2))
	dst = msgp.AppendString(dst, UnmatchedKey)
	dst = msgp.AppendStringFromBytes(dst, line)
	dst = msgp.AppendString(dst, "time")
	return appendInt(dst, now.Unix())
}

// loadZone accepts an IANA name, "UTC"/"Z", or a fixed offset +hh:mm/+hhmm.
func loadZone(s string) (*time.Location, error) {
	if s == "Z" || strings.EqualFold(s, "utc") {
		return time.UTC, nil
	}
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		for _, layout := range []string{"-07:00", "-0700", "-07"} {
			if t, err := time.Parse(layout, s); err == nil {
				_, off := t.Zone()
				return time.FixedZone(s, off), nil
			}
		}
		return nil, fmt.Errorf("bad offset %q", s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("load time zone: %w", err)
	}
	return loc, nil
}

// compileRuby compiles a Ruby regexp literal (/re/flags) or a bare pattern
// with Go's RE2 (named groups (?<name>...) are accepted by both).
func compileRuby(expr string) (*regexp.Regexp, error) {
	pat := expr
	if len(expr) >= 2 && expr[0] == '/' {
		end := strings.LastIndexByte(expr, '/')
		if end > 0 {
			pat = expr[1:end]
			flags := expr[end+1:]
			var goFlags string
			for _, f := range flags {
				switch f {
				case 'i':
					goFlags += "i"
				case 'm': // Ruby multiline: dot matches newline
					goFlags += "s"
				case 'x':
					return nil, fmt.Errorf("regexp flag x is not supported")
				default:
					return nil, fmt.Errorf("unknown regexp flag %q", f)
				}
			}
			if goFlags != "" {
				pat = "(?" + goFlags + ")" + pat
			}
		}
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", expr, err)
	}
	return re, nil
}
