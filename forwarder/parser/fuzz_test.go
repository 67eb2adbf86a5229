package parser

import (
	"bytes"
	"errors"
	"testing"
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

func FuzzJSON(f *testing.F) {
	fuzzParser(f, Config{Type: TypeJSON}, `{"time":1362020400,"a":[1,{"b":null}],"c":1.5e3}`)
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
