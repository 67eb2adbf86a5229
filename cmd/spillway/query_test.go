//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "stop moto:", err)
	}
	os.Exit(code)
}

// lakeWithData starts moto behind an edge, points the AWS environment at
// it, and appends records to web.access in two seals (the second adds a
// column). It returns the records.
func lakeWithData(t *testing.T) []map[string]any {
	t.Helper()
	moto := mototest.Shared(t)
	e, err := edge.Start(context.Background(), edge.Config{Addr: "127.0.0.1:0", Backend: moto.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": e.URL(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := awsconf.Load(ctx, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	bucket := "query-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := s3.NewFromConfig(cfg, awsconf.S3PathStyle).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	lk, err := lake.New(cfg, lake.Config{Warehouse: "s3://" + bucket + "/lake", S3Endpoint: e.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var all []map[string]any
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Unix()
	for seal := range 2 {
		var body []byte
		for i := range 500 {
			n := seal*500 + i
			r := map[string]any{"time": base + int64(n*7), "code": int64([]int{200, 200, 404, 500}[n%4]), "path": "/p" + strconv.Itoa(n%3)}
			if seal == 1 {
				r["bytes"] = int64(n)
			}
			if body, err = tdrecord.AppendRecord(body, r, r["time"].(int64)); err != nil {
				t.Fatal(err)
			}
			all = append(all, r)
		}
		if _, err := lk.Append(ctx, "web", "access", "seal-"+strconv.Itoa(seal), body); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

var discard = slog.New(slog.DiscardHandler)

func TestQuery(t *testing.T) {
	records := lakeWithData(t)
	// The answers, computed from the records independently of the lake.
	byCode := map[int64]int{}
	var bytesSum int64
	for _, r := range records {
		byCode[r["code"].(int64)]++
		if b, ok := r["bytes"]; ok {
			bytesSum += b.(int64)
		}
	}
	codes := make([]int64, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	var wantCSV strings.Builder
	wantCSV.WriteString("code,n\n")
	for _, c := range codes {
		fmt.Fprintf(&wantCSV, "%d,%d\n", c, byCode[c])
	}

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"csv group by", []string{"--format", "csv", "SELECT code, count(*) AS n FROM web.access GROUP BY code ORDER BY code"},
			func(t *testing.T, out string) {
				if out != wantCSV.String() {
					t.Fatalf("got\n%s\nwant\n%s", out, wantCSV.String())
				}
			}},
		{"json with an evolved column and time", []string{"--format", "json",
			"SELECT count(*) AS n, count(bytes) AS with_bytes, sum(bytes) AS total, min(time) AS first, min(td_time) AS first_td FROM web.access"},
			func(t *testing.T, out string) {
				var got []map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				first := time.Unix(records[0]["time"].(int64), 0).UTC().Format(time.RFC3339Nano)
				want := fmt.Sprintf(`[{"first":%q,"first_td":%d,"n":%d,"total":%d,"with_bytes":500}]`, first, records[0]["time"], len(records), bytesSum)
				norm, _ := json.Marshal(got)
				if string(norm) != want {
					t.Fatalf("got %s, want %s", norm, want)
				}
				if !strings.HasPrefix(out, "[\n  {\"n\": ") {
					t.Fatalf("keys not in column order: %s", out)
				}
			}},
		{"table", []string{"SELECT path, count(*) AS n FROM web.access WHERE time >= TIMESTAMPTZ '2026-12-01 10:00:00+00' GROUP BY path ORDER BY path"},
			func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 6 || !strings.HasPrefix(lines[0], "path") || !strings.HasPrefix(lines[1], "----") ||
					strings.Join(strings.Fields(lines[2]), " ") != "/p0 334" || lines[5] != "(3 rows)" {
					t.Fatalf("table output:\n%s", out)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), append([]string{"query"}, tc.args...), &out, &errOut, discard); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			tc.check(t, out.String())
		})
	}
	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{{"query"}, {"query", "--format", "xml", "SELECT 1"}, {"nope"}} {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), args, &out, &errOut, discard); code != 2 {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"query", "SELECT * FROM web.nosuch"}, &out, &errOut, discard); code != 1 ||
			!strings.Contains(errOut.String(), "nosuch") {
			t.Errorf("missing table: exit %d, %s", code, errOut.String())
		}
	})
}
