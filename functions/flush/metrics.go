package flush

import (
	"cmp"
	"os"
	"time"

	"github.com/spillwayhq/spillway/shared/emf"
)

// MetricsNamespace is the CloudWatch namespace of flush's EMF metrics.
const MetricsNamespace = "Spillway/Flush"

var metricUnits = map[string]string{
	"SealedEvents":            "Count",
	"SealedObjects":           "Count",
	"Parked":                  "Count",
	"Waiting":                 "Count",
	"Deferred":                "Count",
	"MissingStagedObjects":    "Count",
	"StagedOrphansDeleted":    "Count",
	"OldestStagedSeconds":     "Seconds",
	"OldestUnimportedSeconds": "Seconds",
}

// metrics writes the run's EMF lines: one for the run (sealed events and
// objects, parked imports, waiting manifests, deferred tables, staged
// objects found gone under a claimed manifest (see giveUp), staged
// orphans deleted (see stagedsweep.go), and the age
// of the oldest staged object it found: how stale the lake was when it
// started), and one per TD endpoint with the age of its oldest sealed
// object not yet imported (0 when it has no backlog in the tables this run
// visited), which Terraform alarms on. The Function dimension is the
// Lambda function's name, so that deployments in one account stay apart.
func (h *Handler) metrics(run *runState) {
	now := h.now()
	res := run.res
	vals := map[string]float64{
		"SealedEvents": float64(res.Events), "SealedObjects": float64(res.SealedObjects), "Parked": float64(res.Parked),
		"Waiting": float64(res.Waiting), "Deferred": float64(res.Deferred), "MissingStagedObjects": float64(res.Missing),
		"StagedOrphansDeleted": float64(res.StagedOrphansDeleted), "OldestStagedSeconds": age(now, run.oldest),
	}
	fn := cmp.Or(os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "flush")
	_, _ = h.metricsOut.Write(emf.Line(MetricsNamespace, now, map[string]string{"Function": fn}, vals, metricUnits))
	for _, s := range h.sinks {
		v := map[string]float64{"OldestUnimportedSeconds": age(now, run.backlog[s.Endpoint])}
		_, _ = h.metricsOut.Write(emf.Line(MetricsNamespace, now, map[string]string{"Function": fn, "Endpoint": s.Endpoint}, v, metricUnits))
	}
}

// age is the seconds from a unix time to now, 0 for no time.
func age(now time.Time, at int64) float64 {
	if at == 0 {
		return 0
	}
	return max(0, float64(now.Unix()-at))
}
