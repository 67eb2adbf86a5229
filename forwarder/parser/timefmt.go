package parser

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeParser parses a time value with a Ruby strptime format translated to
// Go layouts, or leniently (a list of common layouts, then numbers) when no
// format is configured.
type timeParser struct {
	layouts []string
	epoch   bool // format is %s
	noYear  bool // format has no year: use the current year (as Ruby does)
	loc     *time.Location
}

// lenientLayouts stand in for Ruby's Time.parse when no time_format is set.
var lenientLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"2006/01/02 15:04:05",
	"02/Jan/2006:15:04:05 -0700",
	"Mon Jan _2 15:04:05 2006",
	"Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 MST 2006",
	time.RFC1123Z,
	time.RFC1123,
	"Jan _2 15:04:05",
}

func newTimeParser(format string, loc *time.Location) (*timeParser, error) {
	if format == "" {
		return &timeParser{layouts: lenientLayouts, loc: loc, noYear: true}, nil
	}
	if format == "%s" {
		return &timeParser{epoch: true, loc: loc}, nil
	}
	layout, noYear, err := strptimeLayout(format)
	if err != nil {
		return nil, err
	}
	tp := &timeParser{layouts: []string{layout}, noYear: noYear, loc: loc}
	// Ruby's %z also accepts +hh:mm and Z; Go needs a layout per spelling.
	if strings.Contains(layout, "Z0700") {
		tp.layouts = append(tp.layouts, strings.Replace(layout, "Z0700", "Z07:00", 1))
	}
	return tp, nil
}

// parse returns Unix seconds.
func (tp *timeParser) parse(s string, now time.Time) (int64, error) {
	if tp.epoch {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not epoch seconds", ErrTime, clip(s))
		}
		return v, nil
	}
	for _, l := range tp.layouts {
		t, err := time.ParseInLocation(l, s, tp.loc)
		if err != nil {
			continue
		}
		if tp.noYear && t.Year() == 0 {
			t = time.Date(now.In(tp.loc).Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
		}
		return t.Unix(), nil
	}
	return 0, fmt.Errorf("%w: %q does not match the time format", ErrTime, clip(s))
}

// numericTime parses Fluentd's float time_type: seconds, possibly fractional.
func numericTime(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, fmt.Errorf("%w: %q is not a number of seconds", ErrTime, clip(s))
	}
	return int64(math.Floor(f)), nil
}

// strptimeLayout translates Ruby strptime directives to a Go layout.
func strptimeLayout(format string) (layout string, noYear bool, err error) {
	var b strings.Builder
	noYear = true
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", false, fmt.Errorf("time format %q ends with %%", format)
		}
		// Skip Ruby's flags and width (e.g. %-d, %3N): Go parsing is lenient enough.
		for i < len(format) && (format[i] == '-' || format[i] == '_' || format[i] == '0' || format[i] == '^' || (format[i] >= '1' && format[i] <= '9')) {
			i++
		}
		if i >= len(format) {
			return "", false, fmt.Errorf("time format %q ends inside a directive", format)
		}
		switch format[i] {
		case 'Y':
			b.WriteString("2006")
			noYear = false
		case 'y':
			b.WriteString("06")
			noYear = false
		case 'm':
			b.WriteString("01")
		case 'd', 'e':
			b.WriteString("_2")
		case 'j':
			b.WriteString("002")
		case 'H', 'k':
			b.WriteString("15")
		case 'I', 'l':
			b.WriteString("03")
		case 'M':
			b.WriteString("04")
		case 'S':
			b.WriteString("05")
		case 'L':
			b.WriteString("000")
		case 'N':
			b.WriteString("000000000")
		case 'p', 'P':
			b.WriteString("PM")
		case 'b', 'h':
			b.WriteString("Jan")
		case 'B':
			b.WriteString("January")
		case 'a':
			b.WriteString("Mon")
		case 'A':
			b.WriteString("Monday")
		case 'z':
			b.WriteString("Z0700")
		case 'Z':
			b.WriteString("MST")
		case 'T':
			b.WriteString("15:04:05")
		case 'R':
			b.WriteString("15:04")
		case 'F':
			b.WriteString("2006-01-02")
			noYear = false
		case 'D':
			b.WriteString("01/02/06")
			noYear = false
		case '%':
			b.WriteByte('%')
		default:
			return "", false, fmt.Errorf("time format %q: directive %%%c is not supported", format, format[i])
		}
	}
	return b.String(), noYear, nil
}

// clip shortens s for error messages.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
