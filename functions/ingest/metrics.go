package ingest

import (
	"io"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/shared/emf"
)

// MetricsNamespace is the CloudWatch namespace of ingest's EMF metrics.
const MetricsNamespace = "Spillway/Ingest"

// emitter writes one CloudWatch Embedded Metric Format line per call.
// Accepted requests are counted by Route; rejections by Route and Reason.
type emitter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

var metricUnits = map[string]string{
	"AcceptedEvents":   "Count",
	"AcceptedBytes":    "Bytes",
	"KinesisRecords":   "Count",
	"KinesisRetries":   "Count",
	"KinesisThrottles": "Count",
	"Latency":          "Milliseconds",
	"Rejected":         "Count",
	"FlushRequests":    "Count",
}

// emit writes the values (plus Rejected=1 when reason is set).
func (m *emitter) emit(route, reason string, vals map[string]float64) {
	doc := map[string]string{"Route": route}
	if reason != "" {
		doc["Reason"] = reason
		if vals == nil {
			vals = map[string]float64{}
		}
		vals["Rejected"] = 1
	}
	line := emf.Line(MetricsNamespace, m.now(), doc, vals, metricUnits)
	m.mu.Lock()
	_, _ = m.w.Write(line)
	m.mu.Unlock()
}

// ttlCache remembers positive answers (API keys, existing catalog entries)
// for a while in a warm function.
type ttlCache struct {
	ttl time.Duration
	now func() time.Time
	m   sync.Map // string -> cacheEntry
}

type cacheEntry struct {
	v   any
	exp time.Time
}

func (c *ttlCache) get(k string) (any, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	e, ok := c.m.Load(k)
	if !ok {
		return nil, false
	}
	ce := e.(cacheEntry)
	if c.now().After(ce.exp) {
		c.m.Delete(k)
		return nil, false
	}
	return ce.v, true
}

func (c *ttlCache) put(k string, v any) {
	if c.ttl <= 0 {
		return
	}
	c.m.Store(k, cacheEntry{v: v, exp: c.now().Add(c.ttl)})
}
