package apigw

import (
	"net/http"
	"sync"
)

// MeterBytes is the size HTTP API requests are metered in: a request of up
// to 512 KB is one request, a larger one one more per further 512 KB
// (https://aws.amazon.com/api-gateway/pricing/, HTTP APIs).
const MeterBytes = 512 * 1024

// Usage is what API Gateway bills the front for, counted since New.
type Usage struct {
	// Requests are the requests served, refused ones included.
	Requests int64 `json:"requests"`
	// MeteredRequests are Requests in 512 KB increments of their bodies.
	MeteredRequests int64 `json:"metered_requests"`
	// RequestBytes and ResponseBytes are the body bytes read and written.
	RequestBytes  int64 `json:"request_bytes"`
	ResponseBytes int64 `json:"response_bytes"`
}

type usageCounter struct {
	mu sync.Mutex
	u  Usage
}

func (c *usageCounter) add(reqBytes, respBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.u.Requests++
	c.u.MeteredRequests += max(1, (reqBytes+MeterBytes-1)/MeterBytes)
	c.u.RequestBytes += reqBytes
	c.u.ResponseBytes += respBytes
}

// Usage returns the requests and bytes served since New.
func (g *Gateway) Usage() Usage {
	g.usage.mu.Lock()
	defer g.usage.mu.Unlock()
	return g.usage.u
}

// ResetUsage zeroes the counts.
func (g *Gateway) ResetUsage() {
	g.usage.mu.Lock()
	defer g.usage.mu.Unlock()
	g.usage.u = Usage{}
}

// countingBody counts the request body bytes read through it.
type countingBody struct {
	r interface {
		Read([]byte) (int, error)
		Close() error
	}
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

// countingResponse counts the response body bytes.
type countingResponse struct {
	http.ResponseWriter
	n int64
}

func (w *countingResponse) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}
