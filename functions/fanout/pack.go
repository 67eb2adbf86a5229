package fanout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// pack is what one transaction commits for one table: its units (parts or
// chunks of parts, in batch order) and the staged objects they share. The
// events a pack's live units hold for one hour go into one staged object
// (one S3 PUT, one staged item, one claim and one delete in flush), so a
// batch of many small parts of a table stages one object per hour instead
// of one per part.
type pack struct {
	units []unit
	// dup marks units found committed before (their first ledger entry
	// existed); they are left out of the staged objects and the transaction.
	dup []bool
	// staged are the merged staged objects of stagedFor's units.
	staged    []*group
	stagedFor string
}

// packUnits packs the units of one table's parts, in order, into as few
// transactions as DynamoDB allows: 100 actions, counting every unit's
// ledger entries and staged objects before merging (an upper bound) and
// the one catalog counter update.
func packUnits(parts []*part) []*pack {
	var out []*pack
	cur, size := &pack{}, 1 // the counter update
	for _, p := range parts {
		for _, u := range units(p) {
			if len(cur.units) > 0 && size+u.size() > maxTransactItems {
				out = append(out, cur)
				cur, size = &pack{}, 1
			}
			cur.units = append(cur.units, u)
			cur.dup = append(cur.dup, false)
			size += u.size()
		}
	}
	if len(cur.units) > 0 {
		out = append(out, cur)
	}
	return out
}

// maxTransactItems is DynamoDB's limit of actions in one TransactWriteItems.
const maxTransactItems = 100

// live returns the units the pack still has to commit: not committed
// before and whose part has not failed in this batch.
func (pk *pack) live() []unit {
	var out []unit
	for i, u := range pk.units {
		if !pk.dup[i] && !u.p.failed {
			out = append(out, u)
		}
	}
	return out
}

// parts returns the distinct parts of the pack's units, in order.
func (pk *pack) parts() []*part {
	var out []*part
	for _, u := range pk.units {
		if len(out) == 0 || out[len(out)-1] != u.p {
			out = append(out, u.p)
		}
	}
	return out
}

// stageName names the staged objects of a set of units: the hex SHA-256
// of their ledger ids, so the same units give the same key (and the same
// bytes) on every delivery, and different sets never share one. A part id
// starts with a database name, which never contains '-'.
func stageName(live []unit) string {
	h := sha256.New()
	for _, u := range live {
		for _, id := range u.ids {
			h.Write([]byte(id))
			h.Write([]byte{'\n'})
		}
	}
	return "pack-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ledgerIDs returns every ledger id of units.
func ledgerIDs(units []unit) []string {
	var out []string
	for _, u := range units {
		out = append(out, u.ids...)
	}
	return out
}

// merge sets pk.staged to the merged staged objects of live: one per
// hour, the events in unit order, gzip; it is a no-op when pk.staged is
// already theirs.
func (pk *pack) merge(live []unit) bool {
	name := stageName(live)
	if name == pk.stagedFor {
		return false
	}
	byHour := map[int64]*group{}
	var hours []int64
	for _, u := range live {
		for _, g := range u.groups {
			m := byHour[g.part.Hour]
			if m == nil {
				m = &group{part: g.part, late: g.late, key: layout.StagedKey(false, g.part, name)}
				byHour[g.part.Hour] = m
				hours = append(hours, g.part.Hour)
			}
			m.events += g.events
			m.bytes += g.bytes
			m.parts++
			m.raw = append(m.raw, g.raw...)
		}
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i] < hours[j] })
	pk.staged = pk.staged[:0]
	for _, hr := range hours {
		m := byHour[hr]
		m.body = tdrecord.GzipStream(m.raw...)
		m.raw = nil
		pk.staged = append(pk.staged, m)
	}
	pk.stagedFor = name
	return true
}

// stage writes the staged objects of pk's live units (merged, see merge)
// and the far-future objects of each live unit (one per part and hour,
// under quarantine/future/), unless they were written for the same units
// already.
func (h *Handler) stage(ctx context.Context, pk *pack) error {
	live := pk.live()
	if len(live) == 0 || !pk.merge(live) {
		return nil
	}
	var errs []error
	meta := layout.StagedObjectMeta(ledgerIDs(live))
	for _, g := range pk.staged {
		errs = append(errs, h.put(ctx, g.key, g.body, "application/octet-stream", meta))
	}
	for _, u := range live {
		for _, g := range u.future {
			errs = append(errs, h.put(ctx, g.key, g.body, "application/octet-stream", nil))
		}
	}
	if err := errors.Join(errs...); err != nil {
		pk.stagedFor = "" // stage again next time
		return fmt.Errorf("stage %d units: %w", len(live), err)
	}
	return nil
}
