package edge

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

func TestGlueUpdateTableVersionID(t *testing.T) {
	e := startEdge(t, Config{})
	gc := glue.NewFromConfig(awsConfig(t, e.URL()))
	ctx := context.Background()
	db := "edge_glue_db"
	if _, err := gc.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String(db)}}); err != nil {
		var exists *gluetypes.AlreadyExistsException
		if !errors.As(err, &exists) {
			t.Fatalf("create database: %v", err)
		}
	}
	newTable := func(t *testing.T, name string) string {
		t.Helper()
		if _, err := gc.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(db), TableInput: &gluetypes.TableInput{Name: aws.String(name)}}); err != nil {
			t.Fatalf("create table: %v", err)
		}
		return currentVersion(t, gc, db, name)
	}
	update := func(name string, version *string, desc string) error {
		_, err := gc.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(db), VersionId: version,
			TableInput: &gluetypes.TableInput{Name: aws.String(name), Description: aws.String(desc)}})
		return err
	}

	tests := []struct {
		name    string
		version func(first string) *string
		wantCME bool
	}{
		{"current version", func(v string) *string { return aws.String(v) }, false},
		{"stale version", func(string) *string { return aws.String("0") }, true},
		{"future version", func(string) *string { return aws.String("999") }, true},
		{"no version is unconditional", func(string) *string { return nil }, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueTableName(t, i)
			v := newTable(t, name)
			err := update(name, tc.version(v), "changed")
			var cme *gluetypes.ConcurrentModificationException
			if got := errors.As(err, &cme); got != tc.wantCME {
				t.Fatalf("UpdateTable error = %v, want ConcurrentModificationException: %v", err, tc.wantCME)
			}
			after := currentVersion(t, gc, db, name)
			if tc.wantCME && after != v {
				t.Fatalf("rejected update changed the version %s -> %s", v, after)
			}
			if !tc.wantCME && after == v {
				t.Fatalf("accepted update left the version at %s", v)
			}
		})
	}

	t.Run("racing updates of one version: exactly one wins", func(t *testing.T) {
		name := uniqueTableName(t, len(tests))
		v := newTable(t, name)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = update(name, aws.String(v), "racer") })
		}
		wg.Wait()
		won, lost := 0, 0
		for _, err := range errs {
			var cme *gluetypes.ConcurrentModificationException
			switch {
			case err == nil:
				won++
			case errors.As(err, &cme):
				lost++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if won != 1 || lost != n-1 {
			t.Fatalf("won %d, lost %d; want 1 and %d", won, lost, n-1)
		}
	})
}

func uniqueTableName(t testing.TB, i int) string {
	return strings.ReplaceAll(uniqueName(t, "t"+strconv.Itoa(i)), "-", "_")
}

func currentVersion(t *testing.T, gc *glue.Client, db, name string) string {
	t.Helper()
	out, err := gc.GetTable(context.Background(), &glue.GetTableInput{DatabaseName: aws.String(db), Name: aws.String(name)})
	if err != nil {
		t.Fatalf("get table: %v", err)
	}
	return aws.ToString(out.Table.VersionId)
}
