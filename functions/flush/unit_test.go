package flush

import (
	"strings"
	"testing"
	"time"
)

func TestManifestIDDeterministic(t *testing.T) {
	a := ManifestID([]string{"k2", "k1", "k3"})
	if a != ManifestID([]string{"k1", "k2", "k3"}) {
		t.Error("id depends on key order")
	}
	if a == ManifestID([]string{"k1", "k2"}) {
		t.Error("different key sets share an id")
	}
	if len(a) != 32 {
		t.Errorf("id %q is not 32 hex characters", a)
	}
}

func TestPartitionOfKey(t *testing.T) {
	cases := []struct{ key, want string }{
		{"staged/db=d_b/table=t_b/dt=2026-11-22/hour=10/d_b.t_b.u.0.msgpack.gz", "db=d_b/table=t_b/dt=2026-11-22/hour=10"},
		{"late/db=d_b/table=t_b/dt=2026-11-22/hour=09/x.msgpack.gz", "db=d_b/table=t_b/dt=2026-11-22/hour=09"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			got, err := partitionOf(c.key)
			if err != nil || got != c.want {
				t.Errorf("partitionOf = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := partitionOf("staged/nothing.gz"); err == nil {
		t.Error("key without partition accepted")
	}
	if got := SealedKey("db=a/table=b/dt=x/hour=01", "mid", 3); got != "data/db=a/table=b/dt=x/hour=01/mid-3.msgpack.gz" {
		t.Errorf("SealedKey = %s", got)
	}
}

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
