package flush

import (
	"strings"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	now := time.Unix(hourT+600, 0) // 10:10
	items := []stagedItem{
		{Key: "c", HourUnix: hourT, Bytes: 10},             // current hour
		{Key: "b", HourUnix: hourT - 3600, Bytes: 10},      // 09:00, ended 10 min ago
		{Key: "a", HourUnix: hourT - 7200, Bytes: 10},      // 08:00
		{Key: "d", HourUnix: hourT, Bytes: 10, Late: true}, // late: always due
	}
	cases := []struct {
		name   string
		window time.Duration
		target int64
		force  bool
		want   string
	}{
		{"window 5m", 5 * time.Minute, 1 << 20, false, "a,b,d"},
		{"window 15m", 15 * time.Minute, 1 << 20, false, "a,d"},
		{"forced", time.Hour, 1 << 20, true, "a,b,c,d"},
		{"over target", time.Hour, 40, false, "a,b,c,d"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &Handler{cfg: Config{LateWindow: c.window, SealTargetBytes: c.target}, now: func() time.Time { return now }}
			var keys []string
			for _, e := range h.due(items, c.force) {
				keys = append(keys, e.Key)
			}
			if got := strings.Join(keys, ","); got != c.want {
				t.Errorf("due = %s, want %s", got, c.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := (Config{}).Validate()
	for _, want := range []string{"Bucket", "CatalogTable", "ManifestTable", "SealTargetBytes", "MaxClaim"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config error %v does not name %s", err, want)
		}
	}
	c := DefaultConfig()
	c.Bucket, c.CatalogTable, c.ManifestTable = "b", "c", "m"
	if err := c.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
