package costrun

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/lambdarun"
)

// snapshot is the counters at one moment.
type snapshot struct {
	calls map[callKey]edge.CallCount
	fns   map[string]lambdarun.Billing
	logs  map[string]int64
	api   apigw.Usage
	td    int64
	fired int64
}

// callKey is a count's caller and the edge's service, operation and
// resource.
type callKey struct{ caller, service, op, resource string }

// quietTick is how long the pipeline's calls must stay unchanged for quiet.
const quietTick = time.Second

// functionKeys are the distinct access keys the functions sign with, sorted.
func functionKeys(c *cloud.Cloud) []string {
	set := map[string]bool{}
	for _, f := range c.Functions {
		set[accessKey(f)] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// accessKey is the access key a function signs with.
func accessKey(f *cloud.Function) string {
	if k := f.Runner.Config().Env["AWS_ACCESS_KEY_ID"]; k != "" {
		return k
	}
	return PipelineAccessKey
}

// ownKey reports whether short signs with a key no other function uses.
func ownKey(c *cloud.Cloud, short string) bool {
	k := accessKey(c.Functions[short])
	for other, f := range c.Functions {
		if other != short && accessKey(f) == k {
			return false
		}
	}
	return true
}

// quiet waits until the pipeline is idle and returns its snapshot: no
// queued flush run, and no call of the functions for one quietTick (the
// ESM poller reads the stream all the time, so its calls do not count). A
// fanout invocation still in flight when the flush queue drains can ask
// for one more flush run, whose calls belong to the measured window.
//
// The snapshot is marked in the edge's call log (edge.Server.Mark) with
// label and the functions' access keys: the calls a window counts for a
// function are the lines of its key between the window's two marks.
func quiet(ctx context.Context, c *cloud.Cloud, label string) (snapshot, error) {
	flush := c.Functions["flush"].Runner
	t := time.NewTicker(quietTick)
	defer t.Stop()
	var last map[callKey]edge.CallCount
	for {
		if err := flush.WaitAsync(ctx); err != nil {
			return snapshot{}, fmt.Errorf("wait for flush runs: %w", err)
		}
		s := take(c)
		calls := maps.Clone(s.calls)
		maps.DeleteFunc(calls, func(k callKey, _ edge.CallCount) bool { return k.caller == cloud.ESMAccessKey })
		if last != nil && maps.Equal(calls, last) {
			keys := map[string]string{}
			for short, f := range c.Functions {
				keys[short] = accessKey(f)
			}
			c.Edge.Mark(label, "access_keys", keys)
			return s, nil
		}
		last = calls
		select {
		case <-ctx.Done():
			return snapshot{}, fmt.Errorf("wait for the pipeline to go quiet: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func take(c *cloud.Cloud) snapshot {
	s := snapshot{calls: map[callKey]edge.CallCount{}, fns: map[string]lambdarun.Billing{}, logs: map[string]int64{}}
	for _, caller := range append(functionKeys(c), cloud.ESMAccessKey) {
		for _, cc := range c.Edge.CallsByResource(caller) {
			s.calls[callKey{caller, cc.Service, cc.Operation, cc.Resource}] = cc
		}
	}
	for short, f := range c.Functions {
		s.fns[short] = f.Runner.Billing()
		if st, err := os.Stat(filepath.Join(c.DataDir, "logs", short+".log")); err == nil {
			s.logs[short] = st.Size()
		}
	}
	s.api = c.API.Usage()
	if c.TD != nil {
		s.td = int64(c.TD.Stats().Requests)
	}
	s.fired = c.Schedule.Stats().Fired
	return s
}

// since is s less an earlier snapshot a.
func (s snapshot) since(a snapshot) snapshot {
	d := snapshot{calls: map[callKey]edge.CallCount{}, fns: map[string]lambdarun.Billing{}, logs: map[string]int64{}}
	for k, c := range s.calls {
		if c = c.Since(a.calls[k]); c.Requests > 0 {
			d.calls[k] = c
		}
	}
	for k, b := range s.fns {
		p := a.fns[k]
		b.Invocations -= p.Invocations
		b.BilledMs -= p.BilledMs
		b.InitMs -= p.InitMs
		b.ColdStarts -= p.ColdStarts
		b.CPUMs -= p.CPUMs
		d.fns[k] = b
		d.logs[k] = s.logs[k] - a.logs[k]
	}
	d.api = apigw.Usage{Requests: s.api.Requests - a.api.Requests, MeteredRequests: s.api.MeteredRequests - a.api.MeteredRequests,
		RequestBytes: s.api.RequestBytes - a.api.RequestBytes, ResponseBytes: s.api.ResponseBytes - a.api.ResponseBytes}
	d.td = s.td - a.td
	d.fired = s.fired - a.fired
	return d
}

// usage sums a snapshot difference into billing units; each function that
// signs with its own key gets its calls.
func (d snapshot) usage(c *cloud.Cloud) Usage {
	u := Usage{APIRequests: d.api.Requests, APIMeteredRequests: d.api.MeteredRequests, Functions: map[string]FunctionUsage{}, TDRequests: d.td}
	for short, b := range d.fns {
		f := FunctionUsage{MemoryMB: b.MemoryMB, Invocations: b.Invocations, BilledMs: b.BilledMs, InitMs: b.InitMs, LogBytes: d.logs[short], CPUMs: b.CPUMs}
		if fn := c.Functions[short]; fn != nil && ownKey(c, short) {
			f.Calls = d.list(c, accessKey(fn))
		}
		u.Functions[short] = f
	}
	var units edge.BillingUnits
	for _, c := range d.calls {
		units.Add(c.BillingUnits)
		switch c.S3Class {
		case "tier1":
			u.S3Tier1 += c.Requests
		case "tier2":
			u.S3Tier2 += c.Requests
		case "free":
			u.S3Free += c.Requests
		}
		if c.Service == "glue" {
			u.GlueRequests += c.Requests
		}
	}
	u.KinesisRecords, u.KinesisPayloadUnits, u.KinesisWrittenKB, u.KinesisReadBytes = units.KinesisRecords, units.KinesisPayloadUnits, units.KinesisWrittenKB, units.KinesisReadBytes
	u.DynamoDBReadUnits, u.DynamoDBWriteUnits = units.DynamoDBReadUnits, units.DynamoDBWriteUnits
	return u
}

// list is the difference's calls by the given callers, summed by service,
// operation and resource (named by its role in the deployment, see
// resourceRole) and sorted.
func (d snapshot) list(cl *cloud.Cloud, callers ...string) []Call {
	by := map[[3]string]Call{}
	for k, c := range d.calls {
		if !slices.Contains(callers, k.caller) {
			continue
		}
		res := resourceRole(cl.Outputs, c.Service, c.Resource)
		s := by[[3]string{c.Service, c.Operation, res}]
		s.Add(Call{Service: c.Service, Operation: c.Operation, Resource: res, S3Class: c.S3Class, Requests: c.Requests,
			RequestBytes: c.RequestBytes, ResponseBytes: c.ResponseBytes, ReadUnits: c.DynamoDBReadUnits, WriteUnits: c.DynamoDBWriteUnits})
		by[[3]string{c.Service, c.Operation, res}] = s
	}
	out := make([]Call, 0, len(by))
	for _, c := range by {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return out[i].Resource < out[j].Resource
	})
	return out
}
