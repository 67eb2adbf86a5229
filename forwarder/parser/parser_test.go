package parser

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type rec = map[string]any

func TestParsers(t *testing.T) {
	utc := "UTC"
	tests := []struct {
		name string
		cfg  Config
		line string
		want rec   // nil: expect an error
		err  error // wrapped error expected when want is nil
	}{
		{"apache2 doc example", Config{Type: TypeApache2},
			`192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0"`,
			rec{"host": "192.168.0.1", "user": nil, "method": "GET", "path": "/", "code": int64(200), "size": int64(777), "referer": nil, "agent": "Opera/12.0", "time": int64(1362020400)}, nil},
		{"apache2 common format", Config{Type: TypeApache2},
			`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
			rec{"host": "127.0.0.1", "user": "frank", "method": "GET", "path": "/apache_pb.gif", "code": int64(200), "size": int64(2326), "referer": nil, "agent": nil, "time": int64(971211336)}, nil},
		{"apache2 dash size and host", Config{Type: TypeApache2},
			`- - - [28/Feb/2013:12:00:00 +0900] "GET /x HTTP/1.1" 304 - "http://a/?q=1,2" "Bot"`,
			rec{"host": nil, "user": nil, "method": "GET", "path": "/x", "code": int64(304), "size": nil, "referer": "http://a/?q=1,2", "agent": "Bot", "time": int64(1362020400)}, nil},
		{"apache2 one-token request goes through the regexp", Config{Type: TypeApache2},
			`1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "-" 408 - "-" "-"`,
			rec{"host": "1.2.3.4", "user": nil, "method": "-", "path": nil, "code": int64(408), "size": nil, "referer": nil, "agent": nil, "time": int64(1362020400)}, nil},
		{"apache2 escaped quote in agent", Config{Type: TypeApache2},
			`1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /a HTTP/1.1" 200 1 "-" "say \"hi\""`,
			rec{"host": "1.2.3.4", "user": nil, "method": "GET", "path": "/a", "code": int64(200), "size": int64(1), "referer": nil, "agent": `say \"hi\"`, "time": int64(1362020400)}, nil},
		{"apache2 code not a number is nil (to_i == 0)", Config{Type: TypeApache2},
			`h - u [28/Feb/2013:12:00:00 +0900] "GET /a HTTP/1.1" abc 12x`,
			rec{"host": "h", "user": "u", "method": "GET", "path": "/a", "code": nil, "size": int64(12), "referer": nil, "agent": nil, "time": int64(1362020400)}, nil},
		{"apache2 path with spaces", Config{Type: TypeApache2},
			`h - - [28/Feb/2013:12:00:00 +0000] "GET /a b HTTP/1.1" 200 5`,
			rec{"host": "h", "user": nil, "method": "GET", "path": "/a b", "code": int64(200), "size": int64(5), "referer": nil, "agent": nil, "time": int64(1362052800)}, nil},
		{"apache2 not a log line", Config{Type: TypeApache2}, `hello world`, nil, ErrNoMatch},
		{"apache2 bad time", Config{Type: TypeApache2},
			`h - - [yesterday] "GET / HTTP/1.1" 200 5`, nil, ErrTime},
		{"nginx doc example", Config{Type: TypeNginx},
			`127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" -`,
			rec{"remote": "127.0.0.1", "host": "192.168.0.1", "user": "-", "method": "GET", "path": "/", "code": "200", "size": "777", "referer": "-", "agent": "Opera/12.0", "http_x_forwarded_for": "-", "time": int64(1362020400)}, nil},
		{"nginx without referer", Config{Type: TypeNginx},
			`127.0.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777`,
			rec{"remote": "127.0.0.1", "host": "-", "user": "-", "method": "GET", "path": "/", "code": "200", "size": "777", "time": int64(1362020400)}, nil},
		{"nginx with types", Config{Type: TypeNginx, Types: "code:integer,size:integer"},
			`127.0.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "ua"`,
			rec{"remote": "127.0.0.1", "host": "-", "user": "-", "method": "GET", "path": "/", "code": int64(200), "size": int64(777), "referer": "-", "agent": "ua", "time": int64(1362020400)}, nil},
		{"apache_error", Config{Type: TypeApacheError, Timezone: utc},
			`[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration`,
			rec{"level": "error", "client": "127.0.0.1", "message": "client denied by server configuration", "time": int64(971274772)}, nil},
		{"apache_error 2.4 with pid", Config{Type: TypeApacheError, Timezone: utc},
			`[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist`,
			rec{"level": "core:error", "pid": "35708:tid 4328636416", "client": "72.15.99.187", "message": "File does not exist", "time": int64(971274772)}, nil},
		{"json with numeric time", Config{Type: TypeJSON},
			`{"time":1362020400,"host":"192.168.0.1","size":777,"method":"PUT","ok":true,"n":null,"f":1.5,"a":[1,"x"],"o":{"k":"v"}}`,
			rec{"host": "192.168.0.1", "size": int64(777), "method": "PUT", "ok": true, "n": nil, "f": 1.5, "a": []any{int64(1), "x"}, "o": rec{"k": "v"}, "time": int64(1362020400)}, nil},
		{"json without time uses now", Config{Type: TypeJSON}, `{"a":"b"}`, rec{"a": "b", "time": fixedNow.Unix()}, nil},
		{"json time_format", Config{Type: TypeJSON, TimeFormat: "%Y-%m-%d %H:%M:%S %z", TimeKey: "ts", KeepTimeKey: true},
			`{"ts":"2013-02-28 12:00:00 +0900","a":1}`, rec{"ts": "2013-02-28 12:00:00 +0900", "a": int64(1), "time": int64(1362020400)}, nil},
		{"json array is not a record", Config{Type: TypeJSON}, `[1,2]`, nil, ErrNoMatch},
		{"json trailing garbage", Config{Type: TypeJSON}, `{"a":1} x`, nil, ErrNoMatch},
		{"json bad time", Config{Type: TypeJSON}, `{"time":"noon"}`, nil, ErrTime},
		{"ltsv", Config{Type: TypeLTSV, TimeFormat: "%d/%b/%Y:%H:%M:%S %z"},
			"time:28/Feb/2013:12:00:00 +0900\thost:192.168.0.1\treq:GET /list HTTP/1.1\tnolabel",
			rec{"host": "192.168.0.1", "req": "GET /list HTTP/1.1", "time": int64(1362020400)}, nil},
		{"csv quoted and empty", Config{Type: TypeCSV, Keys: []string{"time", "host", "req_id", "user", "extra"}, TimeFormat: "%Y/%m/%d %H:%M:%S", Timezone: "+09:00"},
			`2013/02/28 12:00:00,192.168.0.1,"a ""b"", c",`,
			rec{"host": "192.168.0.1", "req_id": `a "b", c`, "user": nil, "extra": nil, "time": int64(1362020400)}, nil},
		{"csv bad quoting", Config{Type: TypeCSV, Keys: []string{"a"}}, `x"y`, nil, ErrNoMatch},
		{"tsv with types and null", Config{Type: TypeTSV, Keys: []string{"a", "b", "c"}, Types: "a:integer,b:bool", NullValuePattern: "^-$"},
			"42\tyes\t-", rec{"a": int64(42), "b": true, "c": nil, "time": fixedNow.Unix()}, nil},
		{"syslog rfc3164", Config{Type: TypeSyslog, Timezone: utc},
			`Feb 28 12:00:00 192.168.0.1 fluentd[11111]: [error] Syslog test`,
			rec{"host": "192.168.0.1", "ident": "fluentd", "pid": "11111", "message": "[error] Syslog test", "time": time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC).Unix()}, nil},
		{"syslog rfc3164 with priority", Config{Type: TypeSyslog, WithPriority: true, Timezone: utc},
			`<6>Feb  8 12:00:00 host sshd: hello`,
			rec{"pri": int64(6), "host": "host", "ident": "sshd", "message": "hello", "time": time.Date(2026, 2, 8, 12, 0, 0, 0, time.UTC).Unix()}, nil},
		{"syslog rfc5424", Config{Type: TypeSyslog, Format: "rfc5424"},
			`<16>1 2013-02-28T12:00:00.003Z 192.168.0.1 fluentd 11111 ID24224 [exampleSDID@20224 iut="3" eventSource="Application" eventID="11211"] Hi, from Fluentd!`,
			rec{"pri": int64(16), "host": "192.168.0.1", "ident": "fluentd", "pid": "11111", "msgid": "ID24224", "extradata": `[exampleSDID@20224 iut="3" eventSource="Application" eventID="11211"]`, "message": "Hi, from Fluentd!", "time": int64(1362052800)}, nil},
		{"syslog auto picks rfc5424", Config{Type: TypeSyslog, Format: "auto"},
			`<16>1 - host app - - - msg`,
			rec{"pri": int64(16), "host": "host", "ident": "app", "pid": "-", "msgid": "-", "extradata": "-", "message": "msg", "time": fixedNow.Unix()}, nil},
		{"regexp", Config{Type: TypeRegexp, Expression: `/^(?<host>[^ ]*) (?<n>\d+)(?: (?<opt>x))?$/`, Types: "n:integer"},
			`abc 12`, rec{"host": "abc", "n": int64(12), "time": fixedNow.Unix()}, nil},
		{"regexp case-insensitive flag", Config{Type: TypeRegexp, Expression: `/^(?<w>hello)$/i`}, `HELLO`, rec{"w": "HELLO", "time": fixedNow.Unix()}, nil},
		{"none", Config{Type: TypeNone}, `anything at all`, rec{"message": "anything at all", "time": fixedNow.Unix()}, nil},
		{"none message_key", Config{Type: TypeNone, MessageKey: "log"}, `x`, rec{"log": "x", "time": fixedNow.Unix()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.cfg)
			prefix := []byte{0xc0} // something already in dst must be kept
			out, err := p.AppendRecord(append([]byte(nil), prefix...), []byte(tt.line), fixedNow)
			if tt.want == nil {
				if err == nil || !errors.Is(err, tt.err) || !errors.Is(err, ErrNoMatch) {
					t.Fatalf("err = %v, want %v wrapping ErrNoMatch", err, tt.err)
				}
				if string(out) != string(prefix) {
					t.Fatalf("dst changed on error: %x", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("AppendRecord: %v", err)
			}
			if out[0] != prefix[0] {
				t.Fatalf("prefix lost")
			}
			got := normalize(decodeOne(t, out[1:]))
			if !reflect.DeepEqual(got, normalize(map[string]any(tt.want))) {
				t.Fatalf("record\n got %s\nwant %s", toJSON(t, got), toJSON(t, tt.want))
			}
		})
	}
}

func TestAppendUnparsed(t *testing.T) {
	got := normalize(decodeOne(t, AppendUnparsed(nil, []byte("bad \xff line"), fixedNow)))
	want := rec{UnmatchedKey: "bad \xff line", "time": fixedNow.Unix()}
	if !reflect.DeepEqual(got, normalize(map[string]any(want))) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		wants []string
	}{
		{"ok apache2", Config{Type: TypeApache2}, nil},
		{"missing type", Config{}, []string{"type: required"}},
		{"unknown type", Config{Type: "xml"}, []string{`unknown parser "xml"`}},
		{"csv without keys and bad zone and types", Config{Type: TypeCSV, Timezone: "Mars/Base", Types: "a:decimal"},
			[]string{"keys: required", "timezone:", "types:"}},
		{"regexp bad expression", Config{Type: TypeRegexp, Expression: "/(/"}, []string{"expression:"}},
		{"syslog bad format", Config{Type: TypeSyslog, Format: "rfc9999"}, []string{"format:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, nerr := New(tt.cfg); nerr == nil {
				t.Errorf("New accepted an invalid config")
			}
		})
	}
}

// TestDefaultConfig: DefaultConfig plus a type is valid, and a zero field
// means the same as the DefaultConfig value (New and Validate fill it).
func TestDefaultConfig(t *testing.T) {
	d := DefaultConfig()
	if d.Type != "" {
		t.Errorf("DefaultConfig().Type = %q, want none (type is required)", d.Type)
	}
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "type: required") {
		t.Errorf("DefaultConfig().Validate() = %v, want type: required", err)
	}
	line := []byte(`{"message":"m","time":1362020400}`)
	for _, typ := range []string{TypeApache2, TypeApacheError, TypeNginx, TypeJSON, TypeLTSV, TypeSyslog, TypeNone} {
		c := d
		c.Type = typ
		if err := c.Validate(); err != nil {
			t.Errorf("%s: DefaultConfig with type: %v", typ, err)
		}
		if got, want := c.withDefaults(), (Config{Type: typ}).withDefaults(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: zero config fills to %+v, DefaultConfig to %+v", typ, want, got)
		}
		pz, err1 := New(Config{Type: typ})
		pd, err2 := New(c)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: New: %v, %v", typ, err1, err2)
		}
		bz, ez := pz.AppendRecord(nil, line, fixedNow)
		bd, ed := pd.AppendRecord(nil, line, fixedNow)
		if string(bz) != string(bd) || (ez == nil) != (ed == nil) {
			t.Errorf("%s: zero config and DefaultConfig parse differently", typ)
		}
	}
}

func TestConfigErrorsLeadWithField(t *testing.T) {
	err := Config{Type: TypeCSV, Timezone: "Mars/Base"}.Validate()
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 2 {
		t.Fatalf("want 2 joined errors, got %v", err)
	}
	for i, want := range []string{"keys: required for csv", "timezone: "} {
		e := j.Unwrap()[i]
		if !strings.HasPrefix(e.Error(), want) || !errors.Is(e, ErrConfig) {
			t.Errorf("error %d = %q, want prefix %q wrapping ErrConfig", i, e, want)
		}
	}
}
