package flush

import (
	"github.com/spillwayhq/spillway/shared/fault"
	"github.com/spillwayhq/spillway/shared/lake"
)

// FaultFunc is the hook Handle calls at every named step boundary; see
// shared/fault.New for the SPILLWAY_FAULT_POINT values that build one.
type FaultFunc = fault.Func

// FaultPoints lists, in order, every step boundary where Handle calls its
// FaultFunc (values for SPILLWAY_FAULT_POINT). after-td-import is reached
// once per (sink, sealed object).
var FaultPoints = []string{"after-manifest", "after-claim", "after-seal", "before-delete", "after-delete", "after-td-import", "after-pass"}

// LakeFaultPoints are the step boundaries reached only with the lake on
// (WithLake): the lake's own points (its Config.Fault should be the same
// hook), reached once per append and compaction, and after-compact, after
// a lake hour's compaction and before its item is deleted; then the
// maintenance points (lakemaint.go): lake-expired, after an expiry commit,
// and lake-orphans-planned, before unreferenced files are deleted.
var LakeFaultPoints = []string{lake.FaultDataWritten, lake.FaultCommitted, "after-compact", lake.FaultExpired, lake.FaultOrphansPlanned}
