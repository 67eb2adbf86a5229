package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupported is wrapped by Parse for valid EventBridge syntax this
// package does not implement (the L, W and # cron wildcards).
var ErrUnsupported = errors.New("unsupported schedule expression feature")

// Expression is a parsed EventBridge schedule expression: rate(...) or
// cron(...), evaluated in UTC.
type Expression struct {
	text string
	rate time.Duration // > 0 for rate expressions
	cron *cronSpec
}

// String returns the expression as written.
func (e Expression) String() string { return e.text }

// Rate returns the period of a rate expression, 0 for cron.
func (e Expression) Rate() time.Duration { return e.rate }

// Parse parses "rate(N minute|minutes|hour|hours|day|days)" (singular unit
// exactly when N is 1, as EventBridge requires) or
// "cron(minutes hours day-of-month month day-of-week year)" with numbers,
// names (JAN-DEC, SUN-SAT), *, ?, ranges, lists and /increments; one of
// day-of-month and day-of-week must be ?.
func Parse(text string) (Expression, error) {
	s := strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		d, err := parseRate(s[len("rate(") : len(s)-1])
		if err != nil {
			return Expression{}, fmt.Errorf("parse %q: %w", text, err)
		}
		return Expression{text: s, rate: d}, nil
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		c, err := parseCron(s[len("cron(") : len(s)-1])
		if err != nil {
			return Expression{}, fmt.Errorf("parse %q: %w", text, err)
		}
		return Expression{text: s, cron: c}, nil
	}
	return Expression{}, fmt.Errorf("parse %q: want rate(...) or cron(...)", text)
}

func parseRate(body string) (time.Duration, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return 0, errors.New("rate wants a value and a unit")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("rate value %q is not a positive integer", f[0])
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := f[1]
	if n == 1 {
		if _, ok := units[unit]; !ok {
			return 0, fmt.Errorf("rate unit %q: want minute, hour or day for a value of 1", unit)
		}
	} else {
		if !strings.HasSuffix(unit, "s") {
			return 0, fmt.Errorf("rate unit %q: want minutes, hours or days for a value above 1", unit)
		}
		unit = strings.TrimSuffix(unit, "s")
		if _, ok := units[unit]; !ok {
			return 0, fmt.Errorf("rate unit %q: want minutes, hours or days", f[1])
		}
	}
	return time.Duration(n) * units[unit], nil
}

// cronSpec holds the allowed values of each field.
type cronSpec struct {
	minutes, hours, dom, months, dow, years map[int]bool
	anyDOM, anyDOW                          bool
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(body string) (*cronSpec, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("cron wants 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(f))
	}
	var errs []error
	field := func(name, s string, lo, hi int, names map[string]int) (map[int]bool, bool) {
		set, any, err := parseField(s, lo, hi, names)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return set, any
	}
	c := &cronSpec{}
	c.minutes, _ = field("minutes", f[0], 0, 59, nil)
	c.hours, _ = field("hours", f[1], 0, 23, nil)
	c.dom, c.anyDOM = field("day-of-month", f[2], 1, 31, nil)
	c.months, _ = field("month", f[3], 1, 12, monthNames)
	c.dow, c.anyDOW = field("day-of-week", f[4], 1, 7, dayNames)
	c.years, _ = field("year", f[5], 1970, 2199, nil)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errors.New("exactly one of day-of-month and day-of-week must be ?")
	}
	for _, i := range []int{0, 1, 3, 5} {
		if f[i] == "?" {
			return nil, fmt.Errorf("? is only valid in day-of-month or day-of-week, not %q", f[i])
		}
	}
	return c, nil
}

// parseField returns the set of values of one cron field, and whether it
// is a wildcard (* or ?).
func parseField(s string, lo, hi int, names map[string]int) (map[int]bool, bool, error) {
	if strings.ContainsAny(s, "LW#") && !isName(s, names) {
		return nil, false, fmt.Errorf("%q: %w (L, W, #)", s, ErrUnsupported)
	}
	set := map[int]bool{}
	if s == "*" || s == "?" {
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
		return set, true, nil
	}
	value := func(t string) (int, error) {
		if v, ok := names[strings.ToUpper(t)]; ok {
			return v, nil
		}
		v, err := strconv.Atoi(t)
		if err != nil || v < lo || v > hi {
			return 0, fmt.Errorf("%q is not a value in %d-%d", t, lo, hi)
		}
		return v, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, false, fmt.Errorf("increment %q is not a positive integer", stepText)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*":
			from, to = lo, hi
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = value(a); err != nil {
				return nil, false, err
			}
			if to, err = value(b); err != nil {
				return nil, false, err
			}
			if from > to {
				return nil, false, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := value(rng)
			if err != nil {
				return nil, false, err
			}
			from, to = v, v
			if hasStep {
				to = hi
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, false, nil
}

func isName(s string, names map[string]int) bool {
	if names == nil {
		return false
	}
	for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if _, ok := names[strings.ToUpper(part)]; !ok {
			if _, err := strconv.Atoi(part); err != nil {
				return false
			}
		}
	}
	return true
}

// Next returns the first firing time strictly after t: t + rate for rate
// expressions, the next matching minute (UTC) for cron. The zero time means
// the cron expression never fires again.
func (e Expression) Next(t time.Time) time.Time {
	if e.rate > 0 {
		return t.Add(e.rate)
	}
	if e.cron == nil {
		return time.Time{}
	}
	c := e.cron
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for range 366 * 10 {
		if day.Year() > 2199 {
			break
		}
		if c.years[day.Year()] && c.months[int(day.Month())] && c.dayMatches(day) {
			for h := 0; h < 24; h++ {
				if !c.hours[h] {
					continue
				}
				for m := 0; m < 60; m++ {
					if !c.minutes[m] {
						continue
					}
					at := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
					if !at.Before(t) {
						return at
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

func (c *cronSpec) dayMatches(day time.Time) bool {
	if c.anyDOM {
		return c.dow[int(day.Weekday())+1]
	}
	return c.dom[day.Day()]
}
