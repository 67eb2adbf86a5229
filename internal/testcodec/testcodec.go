// Package testcodec compresses test data the way Spillway's clients do, for
// the tests of every receiver (ingest, fanout, the local and the
// forwarder's TD receivers). Only tests import it.
package testcodec

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Zstd returns p as concatenated zstd frames of at most frame input bytes
// each (cut at any byte, as a forwarder concatenating one frame per append
// does), or as one frame when frame <= 0; SpeedFastest with a 1 MiB window.
func Zstd(tb testing.TB, p []byte, frame int) []byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	if frame <= 0 {
		return enc.EncodeAll(p, nil)
	}
	var out []byte
	for len(p) > 0 {
		n := min(frame, len(p))
		out = enc.EncodeAll(p[:n], out)
		p = p[n:]
	}
	return out
}

// Gzip returns p as one gzip member.
func Gzip(tb testing.TB, p []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(p); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// Decompress returns p decompressed as enc says ("gzip": one or more
// members, "zstd": one or more frames within an 8 MiB window), failing tb
// on any other encoding or a damaged stream.
func Decompress(tb testing.TB, enc string, p []byte) []byte {
	tb.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			tb.Fatalf("gzip: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			tb.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		tb.Fatalf("unknown encoding %q", enc)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("%s: %v", enc, err)
	}
	return raw
}
