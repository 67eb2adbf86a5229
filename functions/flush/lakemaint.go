package flush

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/layout"
)

// lakeMaintainEvery is how often scheduled runs expire a lake table's
// snapshots and delete its orphan files. It must exceed maxRunDuration:
// see maintainLake.
const lakeMaintainEvery = time.Hour

// lakeOrphansEvery is how often scheduled runs look for a lake table's
// orphan files: the search reads every kept snapshot's manifest list and
// lists the table's location, and orphans only come from crashes and lost
// conflicts.
const lakeOrphansEvery = 24 * time.Hour

// maxRunDuration bounds how long a flush invocation lives (Lambda's
// largest timeout), so how long a run can act on a manifest it read.
const maxRunDuration = 15 * time.Minute

// The expiry argument needs lakeMaintainEvery > maxRunDuration: this
// constant does not compile otherwise.
const _ uint64 = uint64(lakeMaintainEvery - maxRunDuration - 1)

// lakeExpiry is a table's lake expiry item (layout.LakePK,
// layout.LakeExpirySK): at ObservedAt (the handler's clock, unix seconds)
// every snapshot committed before CutoffMs (unix ms) carried no seal a
// live manifest could append again.
type lakeExpiry struct {
	CutoffMs   int64 `dynamodbav:"cutoff_ms"`
	ObservedAt int64 `dynamodbav:"observed_at"`
	// OrphansAt is when orphan files were last removed (unix seconds).
	OrphansAt int64 `dynamodbav:"orphans_at"`
}

// ParseLakeSealID parses a seal id made by LakeSealID.
func ParseLakeSealID(sealID string) (manifestID string, first, end int, err error) {
	rest, e, ok1 := cutLast(sealID)
	mid, f, ok2 := cutLast(rest)
	first, err1 := strconv.Atoi(f)
	end, err2 := strconv.Atoi(e)
	if !ok1 || !ok2 || mid == "" || err1 != nil || err2 != nil || first < 0 || end <= first {
		return "", 0, 0, fmt.Errorf("%q is not a lake seal id <manifest>-<first>-<end>", sealID)
	}
	return mid, first, end, nil
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// maintainLake expires the lake snapshots of db.table and deletes its
// orphan files, at most every lakeMaintainEvery, in two steps a run apart:
//
//  1. observe: list the table's seals, then its live manifests; a seal is
//     pending while its manifest is live without the lake's marks for it
//     (a run may append it again after checking for it). The cutoff is the
//     oldest pending seal's commit time, or now - LakeSnapshotAge if
//     earlier; it is stored with the observation time;
//  2. at least lakeMaintainEvery later: expire the snapshots committed
//     before the stored cutoff (keeping LakeKeepSnapshots), delete the
//     table's files older than LakeOrphanAge that no snapshot references
//     (at most every lakeOrphansEvery), and observe again.
//
// Why a seal below the cutoff can go: it was not pending at the
// observation, and marks are only added and manifests never come back, so
// a run that read its manifest after the observation skips it. Every run
// alive at the expiry started after the observation, because runs last at
// most maxRunDuration < lakeMaintainEvery. Seals committed after the
// listing are newer than the cutoff. So no run finds a seal gone that it
// would still append: a manifest resumed after expiry appends nothing
// twice.
func (h *Handler) maintainLake(ctx context.Context, db, table string, run *runState) error {
	if h.late(ctx) {
		return nil // compaction used the run's budget: next run
	}
	key := map[string]types.AttributeValue{layout.AttrPK: str(layout.LakePK(db, table)), layout.AttrSK: str(layout.LakeExpirySK)}
	out, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(h.cfg.ManifestTable), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read lake expiry of %s.%s: %w", db, table, err)
	}
	now := h.now()
	var prev lakeExpiry
	if out.Item != nil {
		if err := attributevalue.UnmarshalMap(out.Item, &prev); err != nil {
			return fmt.Errorf("decode lake expiry of %s.%s: %w", db, table, err)
		}
		if now.Sub(time.Unix(prev.ObservedAt, 0)) < lakeMaintainEvery {
			return nil
		}
		res, err := h.lake.Expire(ctx, db, table, time.UnixMilli(prev.CutoffMs), h.cfg.LakeKeepSnapshots)
		if err != nil {
			return fmt.Errorf("expire lake snapshots: %w", err)
		}
		run.res.LakeSnapshotsExpired += res.Expired
		var orphans lake.OrphanResult
		if now.Sub(time.Unix(prev.OrphansAt, 0)) >= lakeOrphansEvery {
			if orphans, err = h.lake.RemoveOrphans(ctx, db, table, h.cfg.LakeOrphanAge); err != nil {
				return fmt.Errorf("remove lake orphan files: %w", err)
			}
			prev.OrphansAt = now.Unix()
			run.res.LakeOrphansDeleted += len(orphans.Files)
		}
		if res.Expired > 0 || len(orphans.Files) > 0 {
			h.log.InfoContext(ctx, "lake table maintained", "db", db, "table", table, "snapshots_expired", res.Expired,
				"snapshots_kept", res.Kept, "orphan_files", len(orphans.Files), "orphan_bytes", orphans.Bytes)
		}
	}
	cutoff, err := h.expiryCutoff(ctx, db, table)
	if err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(lakeExpiry{CutoffMs: cutoff.UnixMilli(), ObservedAt: now.Unix(), OrphansAt: prev.OrphansAt})
	if err != nil {
		return fmt.Errorf("encode lake expiry: %w", err)
	}
	for k, v := range key {
		item[k] = v
	}
	if _, err := h.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(h.cfg.ManifestTable), Item: item}); err != nil {
		return fmt.Errorf("record lake expiry of %s.%s: %w", db, table, err)
	}
	return nil
}

// expiryCutoff observes db.table: the time before which its snapshots
// carry no pending seal (see maintainLake). Snapshot times are the lake
// writers' clocks, compared with the handler's (both the wall clock
// outside tests).
func (h *Handler) expiryCutoff(ctx context.Context, db, table string) (time.Time, error) {
	// Taken before the listing, so seals committed after it are newer.
	cutoff := h.now().Add(-h.cfg.LakeSnapshotAge)
	seals, err := h.lake.Seals(ctx, db, table)
	if err != nil {
		return time.Time{}, fmt.Errorf("list lake seals of %s.%s: %w", db, table, err)
	}
	if len(seals) == 0 {
		return cutoff, nil
	}
	live, err := h.openManifests(ctx, db, table) // after the listing
	if err != nil {
		return time.Time{}, err
	}
	byID := make(map[string]*Manifest, len(live))
	for _, m := range live {
		byID[m.ID] = m
	}
	for _, s := range seals {
		if !s.Time.Before(cutoff) {
			continue
		}
		mid, first, end, err := ParseLakeSealID(s.ID)
		if err != nil {
			continue // not flush's: no manifest appends it again
		}
		if m := byID[mid]; m != nil && !lakeMarked(m, first, end) {
			cutoff = s.Time
		}
	}
	return cutoff, nil
}

// lakeMarked reports whether m records the lake import of every sealed
// object in [first, end). Marks recorded in another form read as missing,
// which only keeps snapshots longer.
func lakeMarked(m *Manifest, first, end int) bool {
	done := make(map[string]bool, len(m.Imports))
	for _, s := range m.Imports {
		done[s] = true
	}
	for n := first; n < end; n++ {
		if !done[importMark(LakeSink, n)] {
			return false
		}
	}
	return true
}
