package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spillwayhq/spillway/shared/names"
)

// longest legal names and the longest unique_id ingest accepts.
var (
	longDB    = strings.Repeat("d", names.MaxLen)
	longTable = strings.Repeat("t", names.MaxLen)
	longUID   = strings.Repeat("U", 128)
)

// keysOf formats every key of the layout for one set of inputs.
func keysOf(db, table, partID, shard, seq, endpoint, uid string, ts int64) (s3 map[string]string, pks, sks map[string]string) {
	p := PartitionOf(db, table, ts)
	mid := NewManifestID()
	s3 = map[string]string{
		"staged":            StagedKey(false, p, partID),
		"late":              StagedKey(true, p, partID),
		"future":            QuarantineFutureKey(p, partID),
		"sealed":            SealedKey(p, mid, 1<<30),
		"quarantine record": QuarantineRecordKey(shard, seq),
		"failed":            FailedKey(endpoint, db, table, uid),
	}
	ch, cr := CatalogKey(db, table)
	dh, dr := CatalogKey(db, "")
	pks = map[string]string{
		"catalog": ch, "catalog database": dh, "ledger": LedgerID(partID),
		"staged": StagedPK(db, table), "manifest": ManifestPK(db, table), "sealed": SealedPK(db, table), "request": RequestPK(db, table), "compact": CompactPK(db, table), "lake": LakePK(db, table),
	}
	sks = map[string]string{
		"catalog": cr, "catalog database": dr, "counter": counterSK(table), "staged item": s3["staged"], "late item": s3["late"],
		"manifest": mid, "sealed hour": p.SealedSK(),
	}
	return s3, pks, sks
}

// checkLimits fails when a key is over its limit or not UTF-8.
func checkLimits(tb testing.TB, s3, pks, sks map[string]string) {
	tb.Helper()
	for _, c := range []struct {
		what string
		keys map[string]string
		max  int
	}{{"S3 key", s3, MaxS3Key}, {"partition key", pks, MaxPartitionKey}, {"sort key", sks, MaxSortKey}} {
		for name, k := range c.keys {
			if len(k) == 0 || len(k) > c.max || !utf8.ValidString(k) {
				tb.Errorf("%s %s is %d bytes (limit %d), valid UTF-8 %v: %.120q", name, c.what, len(k), c.max, utf8.ValidString(k), k)
			}
		}
	}
}

// TestLongestNamesFit is the contract of issue 10: no legal name produces
// an illegal key. Names of 255 + 255 characters with the longest unique_id
// ingest accepts, far-off hours, long shard ids and endpoint hosts.
func TestLongestNamesFit(t *testing.T) {
	host := strings.Repeat("h", 240)
	cases := []struct {
		name      string
		db, table string
		uid       string
		ts        int64
		hashed    bool // the staged object name is hashed
	}{
		{"short names", "d_b", "t_b", "u", hourT, false},
		{"longest names", longDB, longTable, longUID, hourT, true},
		{"longest names, year 10000", longDB, longTable, longUID, 253402300800 + 3600*24*365*90000, true},
		{"longest names, negative year", longDB, longTable, longUID, -1 << 40, true},
		{"232 + 232, part 99999 (fits, unchanged)", strings.Repeat("d", 232), strings.Repeat("t", 232), "0123456789abcdef0123456789abcdef", hourT, false},
		{"235 + 235 (hashed)", strings.Repeat("d", 235), strings.Repeat("t", 235), "0123456789abcdef0123456789abcdef", hourT, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			partID := c.db + "." + c.table + "." + c.uid + "." + strconv.Itoa(99999)
			s3, pks, sks := keysOf(c.db, c.table, partID, strings.Repeat("s", 128), strings.Repeat("9", 128), "https://"+host+":65535/v3", c.uid+"-9999", c.ts)
			checkLimits(t, s3, pks, sks)
			for _, k := range []string{s3["staged"], s3["late"]} {
				o, err := ParsePartKey(k)
				if err != nil {
					t.Fatal(err)
				}
				if IsHashed(o.Name) != c.hashed {
					t.Errorf("%.40q... name hashed %v, want %v", k, IsHashed(o.Name), c.hashed)
				}
			}
			for _, k := range []string{s3["staged"], s3["late"], s3["future"]} {
				o, err := ParsePartKey(k)
				if err != nil {
					t.Fatal(err)
				}
				if o.Partition != PartitionOf(c.db, c.table, c.ts) || o.Key() != k {
					t.Errorf("ParsePartKey(%.80q...) = %+v", k, o.Partition)
				}
			}
			if o, err := ParseSealedKey(s3["sealed"]); err != nil || o.Key() != s3["sealed"] {
				t.Errorf("ParseSealedKey: %v", err)
			}
			if f, err := ParseFailedKey(s3["failed"]); err != nil || f.DB != c.db || f.Table != c.table || f.Hashed {
				t.Errorf("ParseFailedKey = %+v, %v", f, err)
			}
		})
	}
}

// TestLongNameRule pins the rule for names whose staged key would be too
// long: the partition path is kept whole, the object name is the part id
// without "<db>.<table>." clipped to 64 bytes, "!", and the hex SHA-256 of
// the full part id.
func TestLongNameRule(t *testing.T) {
	p := PartitionOf(longDB, longTable, hourT)
	partID := longDB + "." + longTable + ".0123456789abcdef0123456789abcdef.0"
	k := StagedKey(false, p, partID)
	sum := sha256.Sum256([]byte(partID))
	want := "staged/" + p.Path() + "/0123456789abcdef0123456789abcdef.0!" + hex.EncodeToString(sum[:]) + ObjectSuffix
	if k != want {
		t.Errorf("StagedKey = %q\nwant %q", k, want)
	}
	o, err := ParsePartKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.PartID(); ok || !IsHashed(o.Name) || o.Partition != p {
		t.Errorf("parsed %+v: want hashed name in partition %+v", o, p)
	}
	other := StagedKey(false, p, longDB+"."+longTable+".0123456789abcdef0123456789abcdef.1")
	if other == k {
		t.Error("two part ids share a hashed key")
	}
}

// FuzzKeys checks, for any names built from the legal alphabet and any
// part id, shard, sequence, endpoint and unique id, that every key is
// within its limit and valid UTF-8, that parsers give back what the
// formatters were given, and that distinct part ids get distinct keys.
func FuzzKeys(f *testing.F) {
	f.Add(uint8(3), uint8(3), "u", "v", "shardId-000000000000", "49590338271490256608559692538361571095921575989136588898", "http://127.0.0.1:4568", "m-0", hourT)
	f.Add(uint8(255), uint8(255), strings.Repeat("U", 128), strings.Repeat("U", 127), strings.Repeat("s", 300), "1", "https://x", "", int64(-1))
	f.Add(uint8(235), uint8(235), "a/b%c!d", "a/b%c!e", "", "", "", "\xff", int64(1)<<40)
	f.Fuzz(func(t *testing.T, dbLen, tableLen uint8, uid1, uid2, shard, seq, endpoint, failedUID string, ts int64) {
		if ts > 1<<40 || ts < -1<<40 {
			ts %= 1 << 40
		}
		db, table := legalName("d", int(dbLen)), legalName("t", int(tableLen))
		id1, id2 := db+"."+table+"."+uid1+".0", db+"."+table+"."+uid2+".0"
		s3, pks, sks := keysOf(db, table, id1, shard, seq, endpoint, failedUID, ts)
		checkLimits(t, s3, pks, sks)
		p := PartitionOf(db, table, ts)
		for _, late := range []bool{false, true} {
			k1, k2 := StagedKey(late, p, id1), StagedKey(late, p, id2)
			if (k1 == k2) != (id1 == id2) {
				t.Fatalf("part ids %q and %q: keys equal %v", id1, id2, k1 == k2)
			}
			o, err := ParsePartKey(k1)
			if err != nil || o.Key() != k1 || o.Partition != p {
				t.Fatalf("ParsePartKey(%q) = %+v, %v", k1, o, err)
			}
			if got, ok := o.PartID(); ok && got != id1 {
				t.Fatalf("PartID = %q, want %q", got, id1)
			}
		}
		if l1, l2 := LedgerID(id1), LedgerID(id2); (l1 == l2) != (id1 == id2) {
			t.Fatalf("part ids %q and %q: ledger ids equal %v", id1, id2, l1 == l2)
		}
		if got, ok, err := ParseLedgerID(LedgerID(id1)); err != nil || (ok && got != id1) {
			t.Fatalf("ParseLedgerID = %q %v %v", got, ok, err)
		}
		q, err := ParseQuarantineRecordKey(s3["quarantine record"])
		if err != nil || (!q.Hashed && (q.ShardID != shard || q.Sequence != seq)) {
			t.Fatalf("ParseQuarantineRecordKey = %+v, %v", q, err)
		}
		if failedUID != "" && endpoint != "" {
			fo, err := ParseFailedKey(s3["failed"])
			if err != nil || fo.DB != db || fo.Table != table || (!fo.Hashed && fo.UniqueID != failedUID) {
				t.Fatalf("ParseFailedKey = %+v, %v", fo, err)
			}
		}
	})
}

// legalName is a legal TD name of length n clamped to 3..255.
func legalName(c string, n int) string {
	return strings.Repeat(c, max(names.MinLen, min(n, names.MaxLen)))
}
