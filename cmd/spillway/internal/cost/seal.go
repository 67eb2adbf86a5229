package cost

import (
	"math"
	"strings"

	"github.com/spillwayhq/spillway/local/costrun"
)

// sealClass is the unit one of flush's calls grows with.
type sealClass int

const (
	// perStaged calls grow with the staged objects and items (bytes), like
	// fanout's staging: reading and deleting staged objects, claiming and
	// deleting their items; and every call the model cannot place.
	perStaged sealClass = iota
	// perSealed calls grow with the sealed objects: data/ PUTs and the
	// reads of them, the lake's Parquet files, the compaction marks of
	// their hours, TD imports.
	perSealed
	// perSeal calls grow with the seals (manifests): the manifest's item
	// and body, the table's flush request, sealed-hour and lake items, the
	// catalog's table list, the lake's commits (Glue, metadata.json,
	// manifest lists and manifests).
	perSeal
	numClasses
)

// maxClaim is how many staged objects one manifest claims at most
// (functions/flush DefaultConfig's MaxClaim, checked by a test): a seal
// per maxClaim staged objects at least.
const maxClaim = 500

// sweepWindowSeconds is how long a scheduled flush run passes over the
// tables again every SweepEvery while it finds work (functions/flush: its
// first 50 s).
const sweepWindowSeconds = 50

// classOf is the unit one of flush's calls grows with, from the resource
// it addressed (costrun.Call.Resource).
func classOf(c costrun.Call) sealClass {
	switch c.Service {
	case "glue":
		return perSeal
	case "s3":
		switch c.Resource {
		case "manifests", costrun.ResourceLakeMetadata, "lake":
			return perSeal
		case "data", costrun.ResourceLakeData:
			return perSealed
		}
	case "dynamodb":
		// A call over several resources takes the class that grows fastest.
		cl := perSeal
		for _, r := range strings.Split(c.Resource, "+") {
			cl = min(cl, ddbClass(r))
		}
		return cl
	}
	return perStaged
}

// ddbClass is the class of a DynamoDB resource: a table's role and, in
// the manifests table, the item kind (shared/layout's manifests-table
// partition keys).
func ddbClass(res string) sealClass {
	table, kind, _ := strings.Cut(res, "/")
	switch {
	case table == "catalog":
		return perSeal
	case table != "manifests" || kind == "" || kind == "staged":
		return perStaged
	case kind == "compact":
		// Each appended object marks its hour for compaction.
		return perSealed
	}
	return perSeal
}

// classUsage is what one class of calls counted.
type classUsage struct {
	Requests, ReadUnits, WriteUnits, S3Tier1, S3Tier2, Glue, CallsMs float64
}

func (a *classUsage) add(b classUsage, f float64) {
	a.Requests += f * b.Requests
	a.ReadUnits += f * b.ReadUnits
	a.WriteUnits += f * b.WriteUnits
	a.S3Tier1 += f * b.S3Tier1
	a.S3Tier2 += f * b.S3Tier2
	a.Glue += f * b.Glue
	a.CallsMs += f * b.CallsMs
}

// classes sums calls (and tdRequests, perSealed) by class.
func (l Latencies) classes(calls []costrun.Call, tdRequests int64) [numClasses]classUsage {
	var out [numClasses]classUsage
	for _, c := range calls {
		u := classUsage{Requests: float64(c.Requests), ReadUnits: c.ReadUnits, WriteUnits: c.WriteUnits,
			CallsMs: float64(c.Requests) * l.Of(c.Service, c.Operation)}
		switch {
		case c.S3Class == "tier1":
			u.S3Tier1 = u.Requests
		case c.S3Class == "tier2":
			u.S3Tier2 = u.Requests
		case c.Service == "glue":
			u.Glue = u.Requests
		}
		out[classOf(c)].add(u, 1)
	}
	out[perSealed].add(classUsage{Requests: float64(tdRequests), CallsMs: float64(tdRequests) * l.Of(tdService, tdImport)}, 1)
	return out
}

// Sealing is how the model scales flush's sealing at one volume: the
// window's per-sealed-object and per-seal calls (net of the scheduled runs
// priced apart) and the factors they scale by, which differ from the
// per-byte scale once the sealing cadence bounds the seals.
type Sealing struct {
	// Split is false when the measurement cannot tell the classes apart
	// (no seals or no resources: versions 1 and 2); then every call scales
	// with bytes, sealed objects by SealedObjectBytes when set.
	Split bool `json:"split"`
	// SealsPerMonth are the modelled seals: the measured seals per byte,
	// at most CadenceCapPerMonth, at least ForcedPerMonth.
	SealsPerMonth float64 `json:"seals_per_month"`
	// CadenceCapPerMonth is the most seals the deployed cadence allows:
	// per table a fanout-requested seal every SealAfter plus, for each
	// scheduled run, one pass per SweepEvery within its first 50 s; 0:
	// no cap (SealAfter 0, or not recorded).
	CadenceCapPerMonth float64 `json:"cadence_cap_per_month"`
	// ForcedPerMonth are the seals the bytes force: the staged objects
	// (measured per byte) over the most one manifest claims (500).
	ForcedPerMonth float64 `json:"forced_per_month"`
	// SealedPerMonth are the modelled sealed objects: the larger of raw
	// bytes over the target size and the seals times the measured sealed
	// objects per seal.
	SealedPerMonth float64 `json:"sealed_objects_per_month"`
	// SealedScale and SealScale multiply the window's per-sealed-object
	// and per-seal calls.
	SealedScale float64 `json:"sealed_scale"`
	SealScale   float64 `json:"seal_scale"`

	// sealed and seal are the window's calls of each class, net of the
	// scheduled runs' (priced apart as the fixed schedule).
	sealed, seal classUsage
	// fSealed and fSeal are the classes' shares of flush's modelled calls
	// and CPU time (applied to its duration).
	fSealed, fSeal float64
}

// sealing models flush's sealing for a month of monthBytes (scale: the
// per-byte factor; flushRuns: the scheduled runs a month).
func (e Estimator) sealing(monthBytes, scale, flushRuns float64, k Knobs) Sealing {
	m, w := e.M, e.W
	f := w.Replay.Functions["flush"]
	s := Sealing{SealedScale: scale, SealScale: scale}
	if k.SealedObjectBytes > 0 && w.SealedObjects > 0 {
		s.SealedScale = float64(w.SealedBytes) * scale / k.SealedObjectBytes / float64(w.SealedObjects)
	}
	if k.PerByteSealing || !e.splitsSealing() {
		// The per-byte rule: sealed objects are the only calls apart.
		s.sealed = classUsage{S3Tier1: float64(w.SealedObjects)}
		s.SealedPerMonth = float64(w.SealedObjects) * s.SealedScale
		s.SealsPerMonth = float64(w.Seals) * scale
		return s
	}
	s.Split = true
	runs := float64(w.ScheduledRuns)
	win := e.L.classes(f.Calls, w.Replay.TDRequests)
	idle := e.L.classes(m.IdleFlush.Functions["flush"].Calls, m.IdleFlush.TDRequests)
	for _, c := range []struct {
		into *classUsage
		cl   sealClass
	}{{&s.sealed, perSealed}, {&s.seal, perSeal}} {
		c.into.add(win[c.cl], 1)
		c.into.add(idle[c.cl], -runs)
		clampClass(c.into)
	}
	d := e.L.Model("flush", f, w.Replay.TDRequests, k.MemoryMB)
	if total := d.CPUScaledMs + d.CallsMs; total > 0 {
		s.fSealed, s.fSeal = win[perSealed].CallsMs/total, win[perSeal].CallsMs/total
	}

	dep := m.Deployment
	target := float64(dep.SealTargetBytes)
	s.ForcedPerMonth = stagedObjects(w.Calls) * scale / maxClaim
	sealAfter := dep.SealAfterSeconds
	if k.SealAfterSeconds > 0 {
		sealAfter = k.SealAfterSeconds
	}
	if sealAfter > 0 {
		passes := 1.0
		if dep.SweepEverySeconds > 0 {
			passes += math.Floor(sweepWindowSeconds / dep.SweepEverySeconds)
		}
		perTable := HoursPerMonth*3600/sealAfter + flushRuns*passes
		s.CadenceCapPerMonth = float64(max(1, w.Tables)) * perTable
	}
	s.SealsPerMonth = float64(w.Seals) * scale
	if s.CadenceCapPerMonth > 0 {
		s.SealsPerMonth = math.Min(s.SealsPerMonth, s.CadenceCapPerMonth)
	}
	s.SealsPerMonth = math.Max(s.SealsPerMonth, s.ForcedPerMonth)
	s.SealScale = s.SealsPerMonth / float64(w.Seals)

	s.SealedPerMonth = s.SealsPerMonth * float64(w.SealedObjects) / float64(w.Seals)
	objectBytes := target
	if k.SealedObjectBytes > 0 {
		objectBytes = k.SealedObjectBytes * monthBytes / (float64(w.SealedBytes) * scale)
	}
	if objectBytes > 0 {
		s.SealedPerMonth = math.Max(s.SealedPerMonth, monthBytes/objectBytes)
	}
	if w.SealedObjects > 0 {
		s.SealedScale = s.SealedPerMonth / float64(w.SealedObjects)
	}
	return s
}

// stagedObjects are the objects a window's calls staged (PutObject under
// staged/ and late/).
func stagedObjects(calls []costrun.Call) float64 {
	n := 0.0
	for _, c := range calls {
		if c.Service == "s3" && c.Operation == "PutObject" && (c.Resource == "staged" || c.Resource == "late") {
			n += float64(c.Requests)
		}
	}
	return n
}

// splitsSealing reports whether the window tells flush's calls apart:
// it has seals, and flush's calls name their resources (version 3).
func (e Estimator) splitsSealing() bool {
	if e.W.Seals <= 0 {
		return false
	}
	for _, c := range e.W.Replay.Functions["flush"].Calls {
		if c.Resource != "" {
			return true
		}
	}
	return false
}

func clampClass(c *classUsage) {
	for _, v := range []*float64{&c.Requests, &c.ReadUnits, &c.WriteUnits, &c.S3Tier1, &c.S3Tier2, &c.Glue, &c.CallsMs} {
		*v = math.Max(0, *v)
	}
}
