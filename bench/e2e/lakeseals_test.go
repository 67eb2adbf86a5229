package main

import (
	"maps"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/layout"
)

func TestParseLakeSealID(t *testing.T) {
	const m = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		id          string
		first, end  int
		wantErr     bool
		description string
	}{
		{id: flush.LakeSealID(m, 0, 1), first: 0, end: 1, description: "flush's format, one object"},
		{id: flush.LakeSealID(m, 3, 12), first: 3, end: 12, description: "flush's format, a batch"},
		{id: flush.ImportID(m, 0), wantErr: true, description: "a TD unique_id is not a seal id"},
		{id: "zz23456789abcdef0123456789abcdef-0-1", wantErr: true, description: "not a manifest id"},
		{id: m + "-2-2", wantErr: true, description: "empty range"},
		{id: m + "--1-2", wantErr: true, description: "negative first"},
		{id: "", wantErr: true, description: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.description, func(t *testing.T) {
			got, first, end, err := parseLakeSealID(tt.id)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseLakeSealID(%q) = %q %d %d, want an error", tt.id, got, first, end)
				}
				return
			}
			if err != nil || got != m || first != tt.first || end != tt.end {
				t.Fatalf("parseLakeSealID(%q) = %q %d %d %v, want %q %d %d", tt.id, got, first, end, err, m, tt.first, tt.end)
			}
		})
	}
}

// TestLakeSealsResolve checks the seal -> event mapping: a seal's events
// are those of its sealed objects, marked with the time of the lake poll
// that first listed the seal, also when the S3 poll reads the objects
// later.
func TestLakeSealsResolve(t *testing.T) {
	const m1, m2 = "11111111111111111111111111111111", "22222222222222222222222222222222"
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	obj := func(m string, n int) layout.SealedObject {
		return layout.SealedObject{Partition: layout.Partition{DB: db, Table: table, Hour: t0.Unix()}, ManifestID: m, N: n}
	}
	type step struct {
		objects map[layout.SealedObject][]int64 // read by the S3 poll before the lake poll
		seals   []string                        // listed by the lake poll
		at      time.Time
	}
	tests := []struct {
		name    string
		steps   []step
		want    map[int64]time.Time
		pending int
		wantErr bool
	}{
		{
			name:  "a batch of two objects",
			steps: []step{{objects: map[layout.SealedObject][]int64{obj(m1, 0): {0, 1}, obj(m1, 1): {2}}, seals: []string{flush.LakeSealID(m1, 0, 2)}, at: t0}},
			want:  map[int64]time.Time{0: t0, 1: t0, 2: t0},
		},
		{
			name: "objects read after the seal was listed keep the lake's time",
			steps: []step{
				{objects: map[layout.SealedObject][]int64{obj(m1, 0): {0}}, seals: []string{flush.LakeSealID(m1, 0, 2)}, at: t0},
				{objects: map[layout.SealedObject][]int64{obj(m1, 1): {1}}, seals: []string{flush.LakeSealID(m1, 0, 2)}, at: t1},
			},
			want: map[int64]time.Time{0: t0, 1: t0},
		},
		{
			name: "a seal not listed yet marks nothing",
			steps: []step{
				{objects: map[layout.SealedObject][]int64{obj(m1, 0): {0}, obj(m2, 0): {5}}, seals: []string{flush.LakeSealID(m1, 0, 1)}, at: t0},
				{seals: []string{flush.LakeSealID(m1, 0, 1), flush.LakeSealID(m2, 0, 1)}, at: t2},
			},
			want: map[int64]time.Time{0: t0, 5: t2},
		},
		{
			name:    "objects never read leave the seal pending",
			steps:   []step{{seals: []string{flush.LakeSealID(m1, 0, 1)}, at: t0}},
			want:    map[int64]time.Time{},
			pending: 1,
		},
		{
			name:    "a malformed seal id is reported",
			steps:   []step{{seals: []string{"compaction"}, at: t0}},
			want:    map[int64]time.Time{},
			pending: 1,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLakeSeals()
			got := map[int64]time.Time{}
			var err error
			for _, s := range tt.steps {
				for o, seqs := range s.objects {
					l.object(o, seqs)
				}
				l.saw(s.seals, s.at)
				err = l.resolve(func(seq int64, at time.Time) {
					if _, ok := got[seq]; ok {
						t.Errorf("seq %d marked twice", seq)
					}
					got[seq] = at
				})
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("resolve: %v, want error %v", err, tt.wantErr)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("marked %v, want %v", got, tt.want)
			}
			if len(l.pending) != tt.pending {
				t.Fatalf("%d seals pending, want %d", len(l.pending), tt.pending)
			}
		})
	}
}
