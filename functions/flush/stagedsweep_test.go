package flush

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// TestStagedSweepDeletesOnlyOrphans: a forced run deletes the staged
// objects whose ledger entry exists and whose staged item does not, and
// keeps every other one: those a staged item references, those whose
// transaction has not committed (no ledger entry) and those staged without
// the metadata. A scheduled run sweeps a table only in its minute.
func TestStagedSweepDeletesOnlyOrphans(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.cfg.LedgerTable = fmt.Sprintf("ledger-%s", e.cfg.Bucket)
	mototest.CreateTable(t, ctx, e.ddb, e.cfg.LedgerTable, layout.AttrLedgerID)
	const db, table = "db_one", "tbl_a"
	hour := int64(1431939600)
	e.stage(t, db, table, hour, false, "db_one.tbl_a.u0.0", "kept-by-its-item")
	p := layout.PartitionOf(db, table, hour)
	put := func(name, ledgerID string, withItem bool) string {
		t.Helper()
		key := layout.StagedKey(false, p, name)
		var meta map[string]string
		if ledgerID != "" {
			meta = layout.StagedObjectMeta([]string{ledgerID})
		}
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key),
			Body: bytes.NewReader(tdrecord.GzipStream()), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
		if withItem {
			if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.ManifestTable), Item: map[string]types.AttributeValue{
				"pk": str(layout.StagedPK(db, table)), "sk": str(key), "events": num(0), "bytes": num(0), "hour_unix": num(hour),
			}}); err != nil {
				t.Fatal(err)
			}
		}
		return key
	}
	committed := "db_one.tbl_a.u1.0"
	if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.LedgerTable),
		Item: map[string]types.AttributeValue{layout.AttrLedgerID: str(committed)}}); err != nil {
		t.Fatal(err)
	}
	orphan := put("pack-orphan", committed, false)
	referenced := put("pack-referenced", committed, true)
	pending := put("pack-pending", "db_one.tbl_a.u2.0", false)
	legacy := put("pack-legacy", "", false)

	keys := func() []string {
		t.Helper()
		out, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(layout.PrefixStaged)})
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, o := range out.Contents {
			ks = append(ks, aws.ToString(o.Key))
		}
		return ks
	}
	// Scheduled, outside the table's minute: nothing is swept.
	now := time.Unix(hour+7200, 0)
	for stagedSweepDue(db, table, now) {
		now = now.Add(time.Minute)
	}
	h := e.handler(t, now, nil)
	if _, err := h.sweepStagedFor(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys(), orphan) {
		t.Fatalf("a scheduled run outside the table's minute deleted the orphan")
	}
	res, err := h.sweepStagedFor(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	got := keys()
	if slices.Contains(got, orphan) || res.StagedOrphansDeleted != 1 {
		t.Errorf("orphan still there (%v) or deleted count %d, want 1", got, res.StagedOrphansDeleted)
	}
	for _, k := range []string{referenced, pending, legacy} {
		if !slices.Contains(got, k) {
			t.Errorf("%s was deleted", k)
		}
	}
}

// sweepStagedFor runs only the staged sweep over every table, forced or
// as a scheduled run would.
func (h *Handler) sweepStagedFor(ctx context.Context, force bool) (Result, error) {
	run := &runState{res: &Result{}, force: force, backlog: map[string]int64{}}
	var errs []error
	tables, err := h.tables(ctx, "", "")
	if err != nil {
		return Result{}, err
	}
	err = h.sweepTables(ctx, tables, run, &errs)
	if err == nil && len(errs) > 0 {
		err = errs[0]
	}
	return *run.res, err
}
