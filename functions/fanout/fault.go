package fanout

import "github.com/spillwayhq/spillway/shared/fault"

// FaultFunc is the hook Handle calls at every named step boundary; see
// shared/fault.New for the SPILLWAY_FAULT_POINT values that build one.
type FaultFunc = fault.Func

// FaultPoints lists, in order, every step boundary where Handle calls its
// FaultFunc (values for SPILLWAY_FAULT_POINT).
var FaultPoints = []string{"after-decode", "after-stage-s3", "after-catalog-bounds", "after-commit"}
