package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spillwayhq/spillway/shared/layout"
)

// lakeSeals maps the lake's seal ids to the events they carry, for the
// freshness lake column. Flush appends a batch of consecutive sealed
// objects [first, end) of one manifest under the seal id
// "<manifest id>-<first>-<end>" (flush.LakeSealID), and sealed object n of
// that manifest is data/.../<manifest id>-<n>.msgpack.gz (layout.SealedKey):
// so the events of a seal are those of its sealed objects, which the S3
// poll reads anyway. A seal seen before the S3 poll has read all of its
// objects stays pending, with the time of the poll that first listed it,
// until they are read.
type lakeSeals struct {
	objects map[string][]int64   // sealed object name (<manifest id>-<n>) -> sequence numbers
	pending map[string]time.Time // seal id -> first lake poll that listed it
	done    map[string]bool      // seal ids whose events are marked
}

func newLakeSeals() *lakeSeals {
	return &lakeSeals{objects: map[string][]int64{}, pending: map[string]time.Time{}, done: map[string]bool{}}
}

// object records the sequence numbers of sealed object o.
func (l *lakeSeals) object(o layout.SealedObject, seqs []int64) {
	l.objects[objectName(o.ManifestID, o.N)] = seqs
}

// saw records that a lake poll at at listed the seal ids ids.
func (l *lakeSeals) saw(ids []string, at time.Time) {
	for _, id := range ids {
		if _, ok := l.pending[id]; !ok && !l.done[id] {
			l.pending[id] = at
		}
	}
}

// resolve calls mark for every event of each pending seal whose sealed
// objects are all known, with the time the seal was first seen, and
// reports the seal ids that are not flush.LakeSealID's (they stay pending).
func (l *lakeSeals) resolve(mark func(seq int64, at time.Time)) error {
	var errs []error
next:
	for id, at := range l.pending {
		manifest, first, end, err := parseLakeSealID(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for n := first; n < end; n++ {
			if _, ok := l.objects[objectName(manifest, n)]; !ok {
				continue next
			}
		}
		for n := first; n < end; n++ {
			for _, seq := range l.objects[objectName(manifest, n)] {
				mark(seq, at)
			}
		}
		delete(l.pending, id)
		l.done[id] = true
	}
	return errors.Join(errs...)
}

func objectName(manifest string, n int) string { return manifest + "-" + strconv.Itoa(n) }

// parseLakeSealID parses a seal id formatted by flush.LakeSealID:
// "<manifest id>-<first>-<end>" with first < end.
func parseLakeSealID(id string) (manifest string, first, end int, err error) {
	rest, endS, ok1 := cutLast(id, "-")
	manifest, firstS, ok2 := cutLast(rest, "-")
	if !ok1 || !ok2 {
		return "", 0, 0, fmt.Errorf("lake seal id %q is not <manifest id>-<first>-<end>", id)
	}
	if err := layout.ParseManifestID(manifest); err != nil {
		return "", 0, 0, fmt.Errorf("lake seal id %q: %w", id, err)
	}
	first, err1 := strconv.Atoi(firstS)
	end, err2 := strconv.Atoi(endS)
	if err1 != nil || err2 != nil || first < 0 || end <= first {
		return "", 0, 0, fmt.Errorf("lake seal id %q: bad object range", id)
	}
	return manifest, first, end, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
