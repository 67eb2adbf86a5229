package emf

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	at := time.UnixMilli(1795341600123)
	line := Line("Spillway/Test", at, map[string]string{"Route": "import", "Reason": "bad_name"},
		map[string]float64{"Rejected": 1, "Latency": 12.5}, map[string]string{"Latency": "Milliseconds"})
	if line[len(line)-1] != '\n' {
		t.Fatalf("line does not end in a newline: %q", line)
	}
	var doc struct {
		Route, Reason     string
		Rejected, Latency float64
		AWS               struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	cw := doc.AWS.CloudWatchMetrics
	if doc.Route != "import" || doc.Reason != "bad_name" || doc.Rejected != 1 || doc.Latency != 12.5 || doc.AWS.Timestamp != at.UnixMilli() ||
		len(cw) != 1 || cw[0].Namespace != "Spillway/Test" || len(cw[0].Dimensions) != 1 || len(cw[0].Dimensions[0]) != 2 ||
		cw[0].Dimensions[0][0] != "Reason" || len(cw[0].Metrics) != 2 || cw[0].Metrics[0].Name != "Latency" || cw[0].Metrics[0].Unit != "Milliseconds" ||
		cw[0].Metrics[1].Unit != "None" {
		t.Errorf("line = %s", line)
	}
}
