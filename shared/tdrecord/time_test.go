package tdrecord

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// TestSeconds pins the one time rule of the package doc for decoded values.
func TestSeconds(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want int64
		bad  bool
	}{
		{name: "int64", in: int64(-5), want: -5},
		{name: "int8", in: int8(-1), want: -1},
		{name: "uint32", in: uint32(math.MaxUint32), want: math.MaxUint32},
		{name: "uint64 max int64", in: uint64(math.MaxInt64), want: math.MaxInt64},
		{name: "uint64 2^63", in: uint64(1 << 63), bad: true},
		{name: "float floors", in: 1518756037.9, want: 1518756037},
		{name: "negative float floors", in: -0.5, want: -1},
		{name: "float32", in: float32(2.5), want: 2},
		{name: "float -2^63", in: -twoTo63, want: math.MinInt64},
		{name: "float 2^63", in: twoTo63, bad: true},
		{name: "float below -2^63", in: -twoTo63 * 2, bad: true},
		{name: "NaN", in: math.NaN(), bad: true},
		{name: "+Inf", in: math.Inf(1), bad: true},
		{name: "json integer", in: json.Number("1700000000"), want: 1700000000},
		{name: "json fraction", in: json.Number("1.5"), want: 1},
		{name: "json exponent", in: json.Number("1e3"), want: 1000},
		{name: "json overflow", in: json.Number("1e999"), bad: true},
		{name: "json over int64", in: json.Number("9223372036854775808"), bad: true},
		{name: "string", in: "1700000000", bad: true},
		{name: "nil", in: nil, bad: true},
		{name: "bool", in: true, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Seconds(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrTime) {
					t.Fatalf("Seconds(%v) = %d, %v; want ErrTime", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Seconds(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1518756037", want: 1518756037},
		{in: "1518756037.3137116", want: 1518756037},
		{in: " 12 ", want: 12},
		{in: "-1.5", want: -2},
		{in: "yesterday", bad: true},
		{in: "NaN", bad: true},
		{in: "Inf", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSeconds(tt.in)
			if tt.bad != (err != nil) || (!tt.bad && got != tt.want) {
				t.Fatalf("ParseSeconds(%q) = %d, %v", tt.in, got, err)
			}
		})
	}
}

func TestRawSeconds(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want int64
		bad  bool
	}{
		{name: "fixint", in: []byte{0x05}, want: 5},
		{name: "uint64 over int64", in: u64(0xcf, 1<<63), bad: true},
		{name: "int64", in: u64(0xd3, 1<<63), want: math.MinInt64},
		{name: "float64", in: u64(0xcb, math.Float64bits(1.9)), want: 1},
		{name: "float64 NaN", in: u64(0xcb, math.Float64bits(math.NaN())), bad: true},
		{name: "float32", in: []byte{0xca, 0x40, 0x20, 0, 0}, want: 2},
		{name: "EventTime fixext8", in: []byte{0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1}, want: 1700000000},
		{name: "EventTime ext8", in: []byte{0xc7, 0x08, 0x00, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1}, want: 1700000000},
		{name: "other ext type", in: []byte{0xd7, 0x01, 0, 0, 0, 1, 0, 0, 0, 0}, bad: true},
		{name: "string", in: []byte{0xa1, '1'}, bad: true},
		{name: "truncated", in: []byte{0xcd, 0x01}, bad: true},
		{name: "empty", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RawSeconds(tt.in)
			if tt.bad != (err != nil) || (!tt.bad && got != tt.want) {
				t.Fatalf("RawSeconds(% x) = %d, %v", tt.in, got, err)
			}
		})
	}
}

// TestJSONNumber pins the numeric rule of JSON record values; +-Inf stays
// the literal string at every in_http entry point.
func TestJSONNumber(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{in: "1", want: int64(1)},
		{in: "-9223372036854775808", want: int64(math.MinInt64)},
		{in: "18446744073709551615", want: uint64(math.MaxUint64)},
		{in: "18446744073709551616", want: 1.8446744073709552e19},
		{in: "1.5", want: 1.5},
		{in: "1e3", want: 1000.0},
		{in: "1e999", want: "1e999"},
		{in: "-1e999", want: "-1e999"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := JSONNumber(json.Number(tt.in)); got != tt.want {
				t.Fatalf("JSONNumber(%s) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}
