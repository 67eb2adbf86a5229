package layout

import (
	"errors"
	"testing"
)

// hourT is 2026-11-22 10:00:00 UTC.
const hourT = int64(1795341600)

func TestPartitionOf(t *testing.T) {
	cases := []struct {
		t        int64
		wantPath string
	}{
		{hourT, "db=d_b/table=t_b/dt=2026-11-22/hour=10"},
		{hourT + 3599, "db=d_b/table=t_b/dt=2026-11-22/hour=10"},
		{hourT + 3600, "db=d_b/table=t_b/dt=2026-11-22/hour=11"},
		{hourT - 1, "db=d_b/table=t_b/dt=2026-11-22/hour=09"},
		{0, "db=d_b/table=t_b/dt=1970-01-01/hour=00"},
		{-1, "db=d_b/table=t_b/dt=1969-12-31/hour=23"},
		{-62135596800 - 1, "db=d_b/table=t_b/dt=0000-12-31/hour=23"},
		{253402300800, "db=d_b/table=t_b/dt=10000-01-01/hour=00"},
		{-124271193600, "db=d_b/table=t_b/dt=-1968-01-02/hour=00"},
	}
	for _, c := range cases {
		t.Run(c.wantPath, func(t *testing.T) {
			p := PartitionOf("d_b", "t_b", c.t)
			if p.Path() != c.wantPath {
				t.Errorf("Path(%d) = %s, want %s", c.t, p.Path(), c.wantPath)
			}
			if p.Hour > c.t || c.t-p.Hour >= 3600 {
				t.Errorf("hour start %d does not contain %d", p.Hour, c.t)
			}
			back, err := ParsePath(p.Path())
			if err != nil || back != p {
				t.Errorf("ParsePath(%s) = %+v, %v; want %+v", p.Path(), back, err, p)
			}
		})
	}
}

func TestParsePathRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"db=d_b/table=t_b/dt=2026-11-22",
		"db=d_b/table=t_b/dt=2026-11-22/hour=10/x",
		"db=D_B/table=t_b/dt=2026-11-22/hour=10",
		"db=d_b/table=tb/dt=2026-11-22/hour=10",
		"db=d_b/tbl=t_b/dt=2026-11-22/hour=10",
		"db=d_b/table=t_b/date=2026-11-22/hour=10",
		"db=d_b/table=t_b/dt=2026-11-22/hour=24",
		"db=d_b/table=t_b/dt=2026-11-22/hour=1",
		"db=d_b/table=t_b/dt=2026-02-30/hour=10",
		"db=d_b/table=t_b/dt=2026-1-22/hour=10",
		"db=d_b/table=t_b/dt=20261122/hour=10",
		"db=d_b/table=t_b/dt=+2026-11-22/hour=10",
	} {
		t.Run(s, func(t *testing.T) {
			if p, err := ParsePath(s); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParsePath(%q) = %+v, %v; want ErrMalformed", s, p, err)
			}
		})
	}
}
