package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCountMsgpack(t *testing.T) {
	// [[1700000000 (uint32), {}], {"log": "a b", "n": -1}] twice, then a fixext timestamp event.
	rec := []byte{0x92, 0x92, 0xce, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x82, 0xa3, 'l', 'o', 'g', 0xa3, 'a', ' ', 'b', 0xa1, 'n', 0xff}
	ext := []byte{0x92, 0x92, 0xd7, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x81, 0xd9, 1, 'k', 0xcd, 1, 2}
	b := append(append(append([]byte{}, rec...), rec...), ext...)
	n, err := countMsgpack(b)
	if err != nil || n != 3 {
		t.Fatalf("countMsgpack = %d, %v; want 3, nil", n, err)
	}
	if _, err := countMsgpack(b[:len(b)-1]); err == nil {
		t.Fatal("truncated input: want an error")
	}
}

func TestReceiverCountsGzipLines(t *testing.T) {
	s := &receiver{}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write([]byte("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"))
	_ = zw.Close()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(z.Bytes()))
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "application/x-ndjson")
	rr := httptest.NewRecorder()
	s.ServeHTTP(rr, req)
	if rr.Code != http.StatusOK {
		t.Fatalf("POST status %d", rr.Code)
	}
	rr = httptest.NewRecorder()
	s.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/stats", nil))
	var st stats
	if err := json.Unmarshal(rr.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 1 || st.Records != 3 || st.BodyBytes != 24 || st.WireBytes != int64(z.Len()) {
		t.Fatalf("stats = %+v", st)
	}
}
