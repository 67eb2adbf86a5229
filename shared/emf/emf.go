// Package emf formats CloudWatch Embedded Metric Format log lines: a JSON
// object whose _aws member tells CloudWatch Logs which of its members are
// metrics and which are dimensions. Lambda functions print them to their
// log; CloudWatch extracts the metrics with no API call.
//
// Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package emf

import (
	"encoding/json"
	"sort"
	"time"
)

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Line returns one EMF line (newline-terminated) with the given dimensions
// (one dimension set of all of them, in name order) and metric values;
// units names each metric's CloudWatch unit ("None" when absent).
func Line(namespace string, at time.Time, dims map[string]string, vals map[string]float64, units map[string]string) []byte {
	doc := map[string]any{}
	d := directive{Namespace: namespace, Dimensions: [][]string{sortedKeys(dims)}, Metrics: []metric{}}
	for _, k := range d.Dimensions[0] {
		doc[k] = dims[k]
	}
	for _, k := range sortedKeys(vals) {
		unit := units[k]
		if unit == "" {
			unit = "None"
		}
		d.Metrics = append(d.Metrics, metric{Name: k, Unit: unit})
		doc[k] = vals[k]
	}
	doc["_aws"] = meta{Timestamp: at.UnixMilli(), CloudWatchMetrics: []directive{d}}
	line, _ := json.Marshal(doc) // strings and float64s always encode
	return append(line, '\n')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
