package flush

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/awsconf"
)

func TestDueIsEverythingCommitted(t *testing.T) {
	// Sealing is continuous: the current hour, closed hours and late
	// objects are all due at once, in key order, whatever their size.
	items := []stagedItem{
		{Key: "c", HourUnix: hourT, Bytes: 10, Created: hourT + 50},
		{Key: "b", HourUnix: hourT - 3600, Bytes: 10, Created: hourT + 20},
		{Key: "a", HourUnix: hourT - 7200, Bytes: 10, Created: hourT + 30},
		{Key: "d", HourUnix: hourT, Bytes: 10, Late: true},
	}
	h := &Handler{cfg: Config{LateWindow: time.Hour, SealTargetBytes: 1 << 20}}
	run := &runState{res: &Result{}}
	var keys []string
	for _, e := range h.due(items, run) {
		keys = append(keys, e.Key)
	}
	if got := strings.Join(keys, ","); got != "a,b,c,d" {
		t.Errorf("due = %s, want a,b,c,d", got)
	}
	if run.oldest != hourT+20 {
		t.Errorf("oldest = %d, want %d (the earliest commit)", run.oldest, hourT+20)
	}
}

func TestRotate(t *testing.T) {
	tables := [][2]string{{"d", "a"}, {"d", "b"}, {"d", "c"}}
	firsts := map[string]bool{}
	for m := range int64(3) {
		got := rotate(tables, time.Unix(m*60, 0))
		if len(got) != 3 {
			t.Fatalf("rotate = %v", got)
		}
		firsts[got[0][1]] = true
	}
	if len(firsts) != 3 {
		t.Errorf("first tables over three minutes = %v, want each table once", firsts)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (Config{}).Validate()
	for _, want := range []string{"Bucket", "CatalogTable", "ManifestTable", "SealTargetBytes", "MaxClaim", "LakeKeepSnapshots", "LakeOrphanAge"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config error %v does not name %s", err, want)
		}
	}
	c := DefaultConfig()
	c.Bucket, c.CatalogTable, c.ManifestTable = "b", "c", "m"
	if err := c.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	c.LakeSnapshotAge, c.LakeOrphanAge = -time.Second, 59*time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "LakeSnapshotAge") || !strings.Contains(err.Error(), "LakeOrphanAge") {
		t.Errorf("negative snapshot age and an orphan age under an hour: %v", err)
	}
}

// TestRetryConflicts: retryConflicts calls f again only after a
// TransactionConflictException, at most awsconf.ConflictAttempts times in
// all, and stops when ctx ends during a wait.
func TestRetryConflicts(t *testing.T) {
	conflict := &types.TransactionConflictException{Message: aws.String("conflict")}
	other := errors.New("throttled")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name      string
		ctx       context.Context
		errs      []error // f's results in turn; the last one repeats
		wantCalls int
		wantErr   error
	}{
		{"success", context.Background(), []error{nil}, 1, nil},
		{"other error", context.Background(), []error{other}, 1, other},
		{"conflicts then success", context.Background(), []error{conflict, conflict, nil}, 3, nil},
		{"conflicts only", context.Background(), []error{conflict}, awsconf.ConflictAttempts, conflict},
		{"ctx ended", cancelled, []error{conflict}, 1, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := retryConflicts(c.ctx, func() error {
				calls++
				return c.errs[min(calls, len(c.errs))-1]
			})
			if calls != c.wantCalls || !errors.Is(err, c.wantErr) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, c.wantCalls, c.wantErr)
			}
		})
	}
}
