package parser

import (
	"fmt"
	"time"
)

// clfLayouts parse Fluentd's apache/nginx time format "%d/%b/%Y:%H:%M:%S %z"
// when the fast path does not apply.
var clfLayouts = []string{"_2/Jan/2006:15:04:05 Z0700", "_2/Jan/2006:15:04:05 Z07:00"}

// clfCache parses "dd/Mon/yyyy:HH:MM:SS +hhmm" without allocating and
// remembers the last date and the last full timestamp (the same second
// repeats on busy servers).
type clfCache struct {
	loc      *time.Location
	last     [26]byte
	lastOK   bool
	lastUnix int64
	day      [11]byte
	dayOK    bool
	dayUnix  int64
}

var monthIndex = map[[3]byte]time.Month{
	{'J', 'a', 'n'}: 1, {'F', 'e', 'b'}: 2, {'M', 'a', 'r'}: 3, {'A', 'p', 'r'}: 4,
	{'M', 'a', 'y'}: 5, {'J', 'u', 'n'}: 6, {'J', 'u', 'l'}: 7, {'A', 'u', 'g'}: 8,
	{'S', 'e', 'p'}: 9, {'O', 'c', 't'}: 10, {'N', 'o', 'v'}: 11, {'D', 'e', 'c'}: 12,
}

func num2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func (c *clfCache) parse(b []byte) (int64, error) {
	if len(b) == 26 {
		if c.lastOK && string(b) == string(c.last[:]) {
			return c.lastUnix, nil
		}
		if t, ok := c.fast(b); ok {
			copy(c.last[:], b)
			c.lastOK, c.lastUnix = true, t
			return t, nil
		}
	}
	s := string(b)
	for _, l := range clfLayouts {
		if t, err := time.ParseInLocation(l, s, c.loc); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not %%d/%%b/%%Y:%%H:%%M:%%S %%z", ErrTime, clip(s))
}

func (c *clfCache) fast(b []byte) (int64, bool) {
	// 0         1         2
	// 01234567890123456789012345
	// 17/May/2015:10:05:03 +0000
	if b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' || (b[21] != '+' && b[21] != '-') {
		return 0, false
	}
	if !c.dayOK || string(b[:11]) != string(c.day[:]) {
		d, ok := num2(b[0:2])
		if !ok {
			return 0, false
		}
		mon, ok := monthIndex[[3]byte{b[3], b[4], b[5]}]
		if !ok {
			return 0, false
		}
		y1, ok1 := num2(b[7:9])
		y2, ok2 := num2(b[9:11])
		if !ok1 || !ok2 {
			return 0, false
		}
		year := y1*100 + y2
		if d < 1 || d > daysIn(mon, year) {
			return 0, false
		}
		copy(c.day[:], b[:11])
		c.dayOK = true
		c.dayUnix = time.Date(year, mon, d, 0, 0, 0, 0, time.UTC).Unix()
	}
	h, ok1 := num2(b[12:14])
	m, ok2 := num2(b[15:17])
	s, ok3 := num2(b[18:20])
	zh, ok4 := num2(b[22:24])
	zm, ok5 := num2(b[24:26])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || h > 23 || m > 59 || s > 59 || zh > 23 || zm > 59 {
		return 0, false
	}
	off := int64(zh*3600 + zm*60)
	if b[21] == '-' {
		off = -off
	}
	return c.dayUnix + int64(h*3600+m*60+s) - off, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
