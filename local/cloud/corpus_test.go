package cloud_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/cloud"
)

// corpusPath is the 10k Apache corpus the end-to-end tests send.
var corpusPath = filepath.Join("..", "testdata", "apache_combined_10k.log")

// parseCorpus parses the corpus into msgpack chunks of perChunk records
// (cloud.ParseApacheFile) and returns them with the sorted hashes of the
// records they hold. It fails t unless the corpus holds want records.
func parseCorpus(t testing.TB, perChunk, want int) (chunks [][]byte, hashes []string) {
	t.Helper()
	chunks, sent, err := cloud.ParseApacheFile(corpusPath, perChunk)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		recs, err := tdtest.DecodeMsgpack(bytes.NewReader(ch), tdtest.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			hashes = append(hashes, tdtest.HashRecord(r))
		}
	}
	slices.Sort(hashes)
	if sent != want || len(hashes) != want {
		t.Fatalf("parsed %d records (%d hashes), want %d", sent, len(hashes), want)
	}
	return chunks, hashes
}

// checkExactSinks reports (t.Errorf) unless the catalog counts exactly
// len(source) records for db.table, and the sealed S3 objects and the TD
// receiver each hold exactly the records whose sorted hashes are source.
func checkExactSinks(ctx context.Context, t testing.TB, c *cloud.Cloud, db, table string, sealed cloud.Sealed, source []string) {
	t.Helper()
	want := len(source)
	n, err := c.CatalogCount(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(want) {
		t.Errorf("catalog count %d, want %d", n, want)
	}
	if len(sealed.Records) != want {
		t.Errorf("sealed objects hold %d records, want %d", len(sealed.Records), want)
	}
	if got := c.TD.Count(db, table); got != want {
		t.Errorf("TD receiver holds %d records, want %d", got, want)
	}
	s3Hashes, tdHashes := sealed.Hashes(), c.TD.Hashes(db, table)
	if !slices.Equal(s3Hashes, tdHashes) {
		missing, extra := hashDiff(tdHashes, s3Hashes)
		t.Errorf("S3 sealed records and TD receiver records differ (%d vs %d hashes; TD lacks %d, has %d extra)", len(s3Hashes), len(tdHashes), missing, extra)
	}
	if !slices.Equal(s3Hashes, source) {
		missing, extra := hashDiff(s3Hashes, source)
		t.Errorf("S3 sealed records differ from the corpus's parsed records (%d missing, %d extra)", missing, extra)
	}
	checkLake(ctx, t, c, db, table, sealed)
}

// checkLake waits until the lake table db.table holds as many rows as the
// sealed objects, then compares the record sets exactly (read back with an
// iceberg-go scan; the lake stores a nil value as null, as a missing key).
func checkLake(ctx context.Context, t testing.TB, c *cloud.Cloud, db, table string, sealed cloud.Sealed) {
	t.Helper()
	if !c.LakeOn() {
		t.Fatal("the local cloud's lake is off")
	}
	var recs []tdtest.Record
	if err := cloud.WaitFor(ctx, 500*time.Millisecond, "lake rows of "+db+"."+table, func(ctx context.Context) (bool, error) {
		r, err := c.LakeRecords(ctx, db, table)
		recs = r
		return len(r) >= len(sealed.Records), err
	}); err != nil {
		t.Fatal(err)
	}
	lakeHashes, want := cloud.LakeHashes(recs), sealed.LakeComparable()
	if !slices.Equal(lakeHashes, want) {
		missing, extra := hashDiff(lakeHashes, want)
		t.Errorf("lake records differ from the sealed records (%d vs %d; lake lacks %d, has %d extra)", len(lakeHashes), len(want), missing, extra)
	}
}

// hashDiff compares two sorted hash lists as multisets: missing counts the
// hashes of want that got lacks, extra those of got beyond want.
func hashDiff(got, want []string) (missing, extra int) {
	i, j := 0, 0
	for i < len(got) && j < len(want) {
		switch {
		case got[i] == want[j]:
			i++
			j++
		case got[i] < want[j]:
			extra++
			i++
		default:
			missing++
			j++
		}
	}
	return missing + len(want) - j, extra + len(got) - i
}
