package layout

import (
	"errors"
	"strings"
	"testing"
)

// TestS3KeysGolden pins today's key formats byte for byte (existing data
// and its readers depend on them) and parses each back.
func TestS3KeysGolden(t *testing.T) {
	p := PartitionOf("d_b", "t_b", hourT)
	cases := []struct {
		name, got, want string
		parse           func(string) (string, error)
	}{
		{"staged", StagedKey(false, p, "d_b.t_b.u.0"), "staged/db=d_b/table=t_b/dt=2026-11-22/hour=10/d_b.t_b.u.0.msgpack.gz", partKeyBack},
		{"late", StagedKey(true, p, "d_b.t_b.u-1_x.12"), "late/db=d_b/table=t_b/dt=2026-11-22/hour=10/d_b.t_b.u-1_x.12.msgpack.gz", partKeyBack},
		{"staged escaped", StagedKey(false, p, "d_b.t_b.a/b c.0"), "staged/db=d_b/table=t_b/dt=2026-11-22/hour=10/d_b.t_b.a%2Fb%20c.0.msgpack.gz", partKeyBack},
		{"future", QuarantineFutureKey(p, "d_b.t_b.u.0"), "quarantine/future/db=d_b/table=t_b/dt=2026-11-22/hour=10/d_b.t_b.u.0.msgpack.gz", partKeyBack},
		{"sealed", SealedKey(p, "0123456789abcdef0123456789abcdef", 3), "data/db=d_b/table=t_b/dt=2026-11-22/hour=10/0123456789abcdef0123456789abcdef-3.msgpack.gz", func(k string) (string, error) {
			o, err := ParseSealedKey(k)
			return o.Key(), err
		}},
		{"quarantine record", QuarantineRecordKey("shardId-1", "49/5"), "quarantine/records/shard=shardId-1/49%2F5.json", func(k string) (string, error) {
			q, err := ParseQuarantineRecordKey(k)
			return QuarantineRecordKey(q.ShardID, q.Sequence), err
		}},
		{"failed", FailedKey("http://127.0.0.1:4568/", "d_b", "t_b", "0123456789abcdef0123456789abcdef-0"), "failed/127.0.0.1:4568/db=d_b/table=t_b/0123456789abcdef0123456789abcdef-0.json", failedBack},
		{"failed no host", FailedKey("td", "d_b", "t_b", "m-1"), "failed/td/db=d_b/table=t_b/m-1.json", failedBack},
		{"manifest body", ManifestKey("d_b", "t_b", "0123456789abcdef0123456789abcdef"), "manifests/db=d_b/table=t_b/0123456789abcdef0123456789abcdef.json", func(k string) (string, error) {
			b, err := ParseManifestKey(k)
			return ManifestKey(b.DB, b.Table, b.ID), err
		}},
		{"table prefix", TablePrefix(PrefixSealed, "d_b", "t_b"), "data/db=d_b/table=t_b/", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("key = %s, want %s", c.got, c.want)
			}
			if c.parse == nil {
				return
			}
			back, err := c.parse(c.got)
			if err != nil || back != c.got {
				t.Errorf("parse and format = %q, %v; want %q", back, err, c.got)
			}
		})
	}
}

func partKeyBack(k string) (string, error) {
	o, err := ParsePartKey(k)
	return o.Key(), err
}

func failedBack(k string) (string, error) {
	f, err := ParseFailedKey(k)
	return FailedKey(f.Host, f.DB, f.Table, f.UniqueID), err
}

func TestParsePartKey(t *testing.T) {
	p := PartitionOf("d_b", "t_b", hourT)
	cases := []struct {
		key      string
		wantArea string
		wantID   string
	}{
		{StagedKey(false, p, "d_b.t_b.u.0"), PrefixStaged, "d_b.t_b.u.0"},
		{StagedKey(true, p, "d_b.t_b.u.0"), PrefixLate, "d_b.t_b.u.0"},
		{QuarantineFutureKey(p, "d_b.t_b.a/b.0"), PrefixQuarantineFuture, "d_b.t_b.a/b.0"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			o, err := ParsePartKey(c.key)
			if err != nil {
				t.Fatal(err)
			}
			if o.Area != c.wantArea || o.Partition != p {
				t.Errorf("parsed %+v, want area %s partition %+v", o, c.wantArea, p)
			}
			if id, ok := o.PartID(); !ok || id != c.wantID {
				t.Errorf("PartID = %q, %v; want %q", id, ok, c.wantID)
			}
		})
	}
}

func TestParseS3KeysRejects(t *testing.T) {
	good := "db=d_b/table=t_b/dt=2026-11-22/hour=10"
	mid := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name  string
		parse func(string) error
		keys  []string
	}{
		{"part", func(k string) error { _, err := ParsePartKey(k); return err }, []string{
			"",
			"staged/nothing.gz",
			"staged/nothing.msgpack.gz",
			"data/" + good + "/x.msgpack.gz",
			"staged/" + good + "/.msgpack.gz",
			"staged/" + good + "/x.gz",
			"staged/" + good + "/a b.msgpack.gz",
			"staged/" + good + "/a%2fb.msgpack.gz",
			"staged/" + good + "/a!b.msgpack.gz",
			"staged/" + good + "/x!" + strings.Repeat("g", 64) + ".msgpack.gz",
			"staged/db=d_b/table=t_b/dt=2026-11-22/x.msgpack.gz",
			"staged/prefix/" + good + "/x.msgpack.gz",
		}},
		{"sealed", func(k string) error { _, err := ParseSealedKey(k); return err }, []string{
			"",
			"staged/" + good + "/m-1.msgpack.gz",
			"data/" + good + "/m.msgpack.gz",
			"data/" + good + "/-1.msgpack.gz",
			"data/" + good + "/m-1.msgpack.gz",
			"data/" + good + "/" + mid + "-01.msgpack.gz",
			"data/" + good + "/" + mid + "--1.msgpack.gz",
			"data/" + good + "/" + strings.ToUpper(mid) + "-1.msgpack.gz",
			"data/" + good + "/m-1.json",
		}},
		{"quarantine record", func(k string) error { _, err := ParseQuarantineRecordKey(k); return err }, []string{
			"",
			"quarantine/records/s/1.json",
			"quarantine/records/shard=s.json",
			"quarantine/records/shard=s/1",
			"quarantine/records/shard=s/a b.json",
		}},
		{"failed", func(k string) error { _, err := ParseFailedKey(k); return err }, []string{
			"",
			"failed/h/db=d_b/table=t_b.json",
			"failed/h/db=d_b/table=t_b/x/u.json",
			"failed//db=d_b/table=t_b/u.json",
			"failed/h/db=D/table=t_b/u.json",
			"failed/h/db=d_b/table=t_b/u.msgpack.gz",
		}},
		{"manifest body", func(k string) error { _, err := ParseManifestKey(k); return err }, []string{
			"",
			"manifests/db=d_b/table=t_b/m.json",
			"manifests/db=d_b/table=t_b/" + mid,
			"manifests/db=d_b/" + mid + ".json",
			"manifests/db=d_b/table=t_b/x/" + mid + ".json",
			"data/db=d_b/table=t_b/" + mid + ".json",
		}},
	}
	for _, c := range cases {
		for _, k := range c.keys {
			t.Run(c.name+" "+k, func(t *testing.T) {
				if err := c.parse(k); !errors.Is(err, ErrMalformed) {
					t.Errorf("parse(%q) = %v, want ErrMalformed", k, err)
				}
			})
		}
	}
}
