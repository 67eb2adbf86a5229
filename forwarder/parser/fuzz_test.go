package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkRecord asserts the Parser contract on one line: either one msgpack
// map with an integer "time" appended after an untouched prefix, or an
// error wrapping ErrNoMatch with dst unchanged.
func checkRecord(t *testing.T, p Parser, line []byte) {
	t.Helper()
	prefix := []byte{0x01, 0x02}
	out, err := p.AppendRecord(append([]byte(nil), prefix...), line, fixedNow)
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("prefix clobbered: %x", out)
	}
	if err != nil {
		if !errors.Is(err, ErrNoMatch) {
			t.Fatalf("error %v does not wrap ErrNoMatch", err)
		}
		if len(out) != len(prefix) {
			t.Fatalf("dst grew on error")
		}
		return
	}
	m := normalize(decodeOne(t, out[len(prefix):])).(map[string]any)
	if _, ok := m["time"].(int64); !ok {
		t.Fatalf("time is %T %v, want an integer", m["time"], m["time"])
	}
}

// differential checks that the hand parser agrees with the regexp.
func differential(t *testing.T, typ string, line []byte) {
	p := mustNew(t, Config{Type: typ}).(*apacheParser)
	var fast, slow spans
	okFast := p.fast(line, &fast)
	okSlow := p.slow(line, &slow)
	if okFast {
		if !okSlow {
			t.Fatalf("hand parser matched, regexp did not: %q", line)
		}
		compareSpans(t, 0, line, &fast, &slow)
	}
	checkRecord(t, p, line)
}

func FuzzApache2(f *testing.F) {
	f.Add([]byte(`192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0"`))
	f.Fuzz(func(t *testing.T, line []byte) { differential(t, TypeApache2, line) })
}

func FuzzNginx(f *testing.F) {
	f.Add([]byte(`127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" -`))
	f.Fuzz(func(t *testing.T, line []byte) { differential(t, TypeNginx, line) })
}

func fuzzParser(f *testing.F, cfg Config, seed string) {
	f.Add([]byte(seed))
	p := mustNew(f, cfg)
	f.Fuzz(func(t *testing.T, line []byte) { checkRecord(t, p, line) })
}

func FuzzApacheError(f *testing.F) {
	fuzzParser(f, Config{Type: TypeApacheError}, `[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] denied`)
}

// FuzzJSON checks the JSON transcoder against encoding/json: both accept
// the same objects and yield the same values.
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"time":1362020400,"a":[1,{"b":null}],"c":1.5e3,"s":"\u00e9\ud83d\ude00\n"}`))
	p := mustNew(f, Config{Type: TypeJSON, TimeKey: "no such key"})
	f.Fuzz(func(t *testing.T, line []byte) {
		checkRecord(t, p, line)
		var want map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		werr := dec.Decode(&want)
		if werr == nil && dec.More() {
			werr = errors.New("data after the object")
		}
		if werr == nil {
			if _, err := dec.Token(); err == nil || !errors.Is(err, io.EOF) {
				werr = errors.New("data after the object")
			}
		}
		out, err := p.AppendRecord(nil, line, fixedNow)
		if werr != nil {
			if err == nil && !strings.Contains(werr.Error(), "out of range") && !strings.Contains(werr.Error(), "cannot unmarshal") {
				t.Fatalf("accepted what encoding/json refuses (%v): %q", werr, line)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused what encoding/json accepts: %v: %q", err, line)
		}
		if !utf8.Valid(line) {
			return // encoding/json replaces invalid UTF-8, we keep the bytes
		}
		got := normalize(decodeOne(t, out)).(map[string]any)
		delete(got, "time")
		delete(want, "time")
		if g, w := toJSON(t, got), toJSON(t, numbers(want)); g != w {
			t.Fatalf("got %s\nwant %s\nline %q", g, w, line)
		}
	})
}

func FuzzLTSV(f *testing.F) {
	fuzzParser(f, Config{Type: TypeLTSV, Types: "n:integer"}, "time:28/Feb/2013:12:00:00 +0900\tn:12\tx:y")
}

func FuzzCSV(f *testing.F) {
	fuzzParser(f, Config{Type: TypeCSV, Keys: []string{"time", "a", "b"}, TimeFormat: "%Y-%m-%d"}, `2013-02-28,"x,""y""",`)
}

func FuzzTSV(f *testing.F) {
	fuzzParser(f, Config{Type: TypeTSV, Keys: []string{"a", "b"}, Types: "a:array:|,b:float"}, "1|2|3\t2.5")
}

func FuzzSyslog(f *testing.F) {
	fuzzParser(f, Config{Type: TypeSyslog, Format: "auto"}, `<16>1 2013-02-28T12:00:00.003Z host app 1 ID [a b="c\]"] msg`)
}

func FuzzRegexp(f *testing.F) {
	fuzzParser(f, Config{Type: TypeRegexp, Expression: `/^(?<time>\S+) (?<n>\d+)?(?<rest>.*)$/`, TimeFormat: "%s", Types: "n:integer"}, `1362020400 42 rest`)
}

func FuzzNone(f *testing.F) {
	fuzzParser(f, Config{Type: TypeNone}, "any line")
}

// numbers turns json.Number into int64, uint64 or float64 as the
// transcoder does.
func numbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(t), 10, 64); err == nil {
			return u
		}
		f, _ := strconv.ParseFloat(string(t), 64)
		return f
	case map[string]any:
		for k, x := range t {
			t[k] = numbers(x)
		}
	case []any:
		for i, x := range t {
			t[i] = numbers(x)
		}
	}
	return v
}
