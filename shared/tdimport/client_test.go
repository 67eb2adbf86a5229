package tdimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// script answers requests in order with the given statuses, then 200.
func script(t testing.TB, statuses ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if r.Header.Get("Authorization") != "TD1 k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.Copy(io.Discard, r.Body)
		if i < len(statuses) {
			if statuses[i] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(statuses[i])
			io.WriteString(w, `{"error":"scripted"}`)
			return
		}
		io.WriteString(w, `{"database":"db1","table":"t1","unique_id":"u1","md5_hex":"x","elapsed_time":0.5}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestImportWithID(t *testing.T) {
	fast := RetryPolicy{MaxAttempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	tests := []struct {
		name         string
		statuses     []int
		wantErr      bool
		wantPerm     bool
		wantRequests int32
	}{
		{"ok", nil, false, false, 1},
		{"5xx then ok", []int{500, 503}, false, false, 3},
		{"429 then ok", []int{429}, false, false, 2},
		{"408 then ok", []int{408}, false, false, 2},
		{"400 is permanent", []int{400}, true, true, 1},
		{"501 is not retried", []int{501}, true, false, 1},
		{"gives up after MaxAttempts", []int{500, 500, 500, 500, 500}, true, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := script(t, tt.statuses...)
			c := &Client{Endpoint: srv.URL, APIKey: "k", Policy: fast}
			res, err := c.ImportWithID(context.Background(), "db1", "t1", "u1", []byte("body"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := IsPermanent(err); got != tt.wantPerm {
				t.Errorf("IsPermanent = %v, want %v", got, tt.wantPerm)
			}
			if got := n.Load(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			if err == nil && (res.UniqueID != "u1" || res.Attempts != int(tt.wantRequests)) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestCreateConflictIsNil(t *testing.T) {
	srv, _ := script(t, http.StatusConflict, http.StatusConflict, http.StatusForbidden)
	c := &Client{Endpoint: srv.URL, APIKey: "k"}
	ctx := context.Background()
	if err := c.CreateDatabase(ctx, "db1"); err != nil {
		t.Fatalf("CreateDatabase on 409: %v", err)
	}
	if err := c.CreateTable(ctx, "db1", "t1"); err != nil {
		t.Fatalf("CreateTable on 409: %v", err)
	}
	if err := c.CreateTable(ctx, "db1", "t1"); !IsPermanent(err) {
		t.Fatalf("CreateTable on 403 = %v, want permanent error", err)
	}
}

func TestContextStopsRetries(t *testing.T) {
	srv, _ := script(t, 500, 500, 500, 500, 500, 500, 500, 500)
	c := &Client{Endpoint: srv.URL, APIKey: "k", Policy: RetryPolicy{MinBackoff: time.Hour, MaxBackoff: time.Hour}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ImportWithID(ctx, "db1", "t1", "u1", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n := 1; n < 40; n++ {
		d := p.Backoff(n, nil)
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("Backoff(%d) = %v, outside [50ms, 1s]", n, d)
		}
	}
	resp := &http.Response{Header: http.Header{"Retry-After": []string{"3600"}}}
	if d := p.Backoff(1, resp); d != time.Second {
		t.Fatalf("Retry-After above MaxBackoff gave %v, want the 1s cap", d)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		status                         int
		content, auth, notFound, perma bool
	}{
		{400, true, false, false, true},
		{401, false, true, false, true},
		{403, false, true, false, true},
		{404, false, false, true, true},
		{408, false, false, false, false},
		{413, true, false, false, true},
		{415, true, false, false, true},
		{422, true, false, false, true},
		{429, false, false, false, false},
		{500, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			err := fmt.Errorf("import: %w", &StatusError{StatusCode: tt.status})
			if IsContentError(err) != tt.content || IsAuthError(err) != tt.auth || IsNotFound(err) != tt.notFound || IsPermanent(err) != tt.perma {
				t.Fatalf("content %v auth %v not found %v permanent %v", IsContentError(err), IsAuthError(err), IsNotFound(err), IsPermanent(err))
			}
		})
	}
	if IsContentError(errors.New("connection refused")) || Status(nil) != 0 {
		t.Fatal("a transport error has no status class")
	}
}
