package layout

import (
	"errors"
	"strings"
	"testing"
)

func TestDynamoDBKeysGolden(t *testing.T) {
	p := PartitionOf("d_b", "t_b", hourT)
	cases := []struct{ name, got, want string }{
		{"staged pk", StagedPK("d_b", "t_b"), "staged#d_b.t_b"},
		{"manifest pk", ManifestPK("d_b", "t_b"), "manifest#d_b.t_b"},
		{"sealed pk", SealedPK("d_b", "t_b"), "sealed#d_b.t_b"},
		{"request pk", RequestPK("d_b", "t_b"), "request#d_b.t_b"},
		{"sealed sk", p.SealedSK(), "2026-11-22/10"},
		{"ledger id", LedgerID("d_b.t_b.u-1_X.0"), "d_b.t_b.u-1_X.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("key = %q, want %q", c.got, c.want)
			}
		})
	}
}

func TestManifestsPKRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kind string
		f    func(db, table string) string
	}{{KindStaged, StagedPK}, {KindManifest, ManifestPK}, {KindSealed, SealedPK}, {KindRequest, RequestPK}, {KindCompact, CompactPK}, {KindLake, LakePK}} {
		t.Run(c.kind, func(t *testing.T) {
			kind, db, table, err := ParseManifestsPK(c.f("d_b", "t_b"))
			if err != nil || kind != c.kind || db != "d_b" || table != "t_b" {
				t.Errorf("ParseManifestsPK = %q %q %q %v", kind, db, table, err)
			}
		})
	}
	for _, pk := range []string{"", "staged#", "staged#d_b", "staged#d_b.t_b.x", "other#d_b.t_b", "staged#D_B.t_b", "staged.d_b.t_b"} {
		t.Run("reject "+pk, func(t *testing.T) {
			if _, _, _, err := ParseManifestsPK(pk); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseManifestsPK(%q) = %v, want ErrMalformed", pk, err)
			}
		})
	}
}

func TestSealedSKRoundTrip(t *testing.T) {
	for _, ts := range []int64{hourT, 0, -1, hourT + 86400*400} {
		p := PartitionOf("d_b", "t_b", ts)
		back, err := ParseSealedSK("d_b", "t_b", p.SealedSK())
		if err != nil || back != p {
			t.Errorf("ParseSealedSK(%s) = %+v, %v; want %+v", p.SealedSK(), back, err, p)
		}
	}
	for _, sk := range []string{"", "2026-11-22", "2026-11-22/25", "2026-11-22/1", "2026-11-22-10"} {
		if _, err := ParseSealedSK("d_b", "t_b", sk); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSealedSK(%q) = %v, want ErrMalformed", sk, err)
		}
	}
}

func TestCatalogKey(t *testing.T) {
	cases := []struct {
		db, table string
		wantRange string
	}{
		{"d_b", "t_b", "t_b"},
		{"d_b", "", DatabaseItem},
	}
	for _, c := range cases {
		t.Run(c.wantRange, func(t *testing.T) {
			h, r := CatalogKey(c.db, c.table)
			if h != c.db || r != c.wantRange {
				t.Fatalf("CatalogKey = %q %q", h, r)
			}
			db, table, err := ParseCatalogKey(h, r)
			if err != nil || db != c.db || table != c.table {
				t.Errorf("ParseCatalogKey = %q %q %v", db, table, err)
			}
		})
	}
	for _, k := range [][2]string{{"", "t_b"}, {"d_b", ""}, {"d_b", "#db"}, {"D_B", "t_b"}} {
		if _, _, err := ParseCatalogKey(k[0], k[1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCatalogKey(%q) = %v, want ErrMalformed", k, err)
		}
	}
}

func TestLedgerID(t *testing.T) {
	cases := []struct {
		name, partID string
		wantKept     bool
	}{
		{"ingest id", "d_b.t_b.0123456789abcdef0123456789abcdef.3", true},
		{"long names", strings.Repeat("d", 255) + "." + strings.Repeat("t", 255) + "." + strings.Repeat("u", 128) + ".99", true},
		{"too long", "d_b.t_b." + strings.Repeat("u", MaxPartitionKey) + ".0", false},
		{"hash mark inside", "d_b.t_b.a!b.0", true},
		{"hash mark first", "!d_b.t_b.a.0", false},
		{"invalid utf-8", "d_b.t_b.\xff.0", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := LedgerID(c.partID)
			if len(id) > MaxPartitionKey {
				t.Fatalf("ledger id of %d bytes", len(id))
			}
			got, ok, err := ParseLedgerID(id)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.wantKept || (ok && got != c.partID) || (ok && id != c.partID) {
				t.Errorf("LedgerID(%q) = %q, parsed %q %v; want kept=%v", c.partID, id, got, ok, c.wantKept)
			}
		})
	}
}

func TestParseManifestID(t *testing.T) {
	a, b := NewManifestID(), NewManifestID()
	if err := ParseManifestID(a); err != nil {
		t.Error(err)
	}
	if a == b {
		t.Error("two new manifest ids are equal")
	}
	for _, id := range []string{"", "mid", strings.Repeat("A", 32), strings.Repeat("a", 33)} {
		if err := ParseManifestID(id); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseManifestID(%q) = %v", id, err)
		}
	}
}

// counterSK is the range key of the last counter item of table.
func counterSK(table string) string {
	_, r := CounterKey("d_b", table, MaxCounterItems-1)
	return r
}

func TestCounterKey(t *testing.T) {
	for _, n := range []int{0, 7, MaxCounterItems - 1} {
		h, r := CounterKey("d_b", "t_b", n)
		db, table, got, ok, err := ParseCounterKey(h, r)
		if err != nil || !ok || db != "d_b" || table != "t_b" || got != n {
			t.Errorf("ParseCounterKey(CounterKey(%d)) = %q %q %d %v %v", n, db, table, got, ok, err)
		}
		if _, _, err := ParseCatalogKey(h, r); err == nil {
			t.Errorf("ParseCatalogKey accepts counter key %q", r)
		}
		lo, hi := TableItemsRange("t_b")
		if r < lo || r > hi {
			t.Errorf("counter key %q outside TableItemsRange %q..%q", r, lo, hi)
		}
	}
	for _, other := range []string{"t_b", "t_bb", "t_b_c", "t_a", "t_c", "t_b0", DatabaseItem} {
		if _, _, _, ok, err := ParseCounterKey("d_b", other); ok || err != nil {
			t.Errorf("ParseCounterKey(%q) = %v %v, want not a counter key", other, ok, err)
		}
		lo, hi := TableItemsRange("t_b")
		if in := other >= lo && other <= hi; in != (other == "t_b") {
			t.Errorf("%q in TableItemsRange(t_b) = %v", other, in)
		}
	}
	for _, bad := range []string{"t_b#c", "t_b#c01", "t_b#c-1", "t_b#c1000", "T_B#c1"} {
		if _, _, _, _, err := ParseCounterKey("d_b", bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCounterKey(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
