package kinesismock_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/spillwayhq/spillway/local/kinesismock"
	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/shared/awsconf"
)

// The emulators are started once per test binary (kinesis-mock takes
// seconds to start) and stopped by TestMain.
var (
	kmOnce sync.Once
	kmSrv  *kinesismock.Server
	kmErr  error

	motoOnce sync.Once
	motoSrv  *moto.Server
	motoErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if kmSrv != nil {
		if err := kmSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close kinesis-mock:", err)
			code = 1
		}
	}
	if motoSrv != nil {
		if err := motoSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close moto:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sharedKinesisMock returns the test binary's kinesis-mock server.
func sharedKinesisMock(tb testing.TB) *kinesismock.Server {
	tb.Helper()
	kmOnce.Do(func() {
		kmSrv, kmErr = kinesismock.Start(context.Background(), kinesismock.Options{})
		if kmErr == nil {
			tb.Logf("kinesis-mock started in %v, RSS %d KiB", kmSrv.StartupTime(), rssKiB(tb, kmSrv.PID()))
		}
	})
	if kmErr != nil {
		tb.Fatalf("start kinesis-mock: %v", kmErr)
	}
	return kmSrv
}

// sharedMoto returns the test binary's moto server.
func sharedMoto(tb testing.TB) *moto.Server {
	tb.Helper()
	motoOnce.Do(func() { motoSrv, motoErr = moto.Start(context.Background(), moto.Options{}) })
	if motoErr != nil {
		tb.Fatalf("start moto: %v", motoErr)
	}
	return motoSrv
}

// kinesisClient returns the real SDK client for the emulator at url, built
// the way Spillway builds every client (shared/awsconf), with test
// credentials in us-east-1.
func kinesisClient(tb testing.TB, url string) *kinesis.Client {
	tb.Helper()
	cfg, err := awsconf.Load(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1), // a refusal must show as it is, not retried
	)
	if err != nil {
		tb.Fatalf("aws config: %v", err)
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(url) })
}

var streamSeq struct {
	sync.Mutex
	n int
}

// streamName returns a stream name unique in this test binary.
func streamName(tb testing.TB) string {
	tb.Helper()
	streamSeq.Lock()
	defer streamSeq.Unlock()
	streamSeq.n++
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, tb.Name())
	if len(name) > 100 {
		name = name[:100]
	}
	return name + "-" + strconv.Itoa(streamSeq.n)
}

// createStream creates a stream (provisioned with shards, or ON_DEMAND when
// shards is 0), waits until it is ACTIVE and returns its description.
func createStream(tb testing.TB, c *kinesis.Client, shards int32) *types.StreamDescriptionSummary {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := streamName(tb)
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	if shards > 0 {
		in.ShardCount = aws.Int32(shards)
		in.StreamModeDetails = &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}
	} else {
		in.StreamModeDetails = &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}
	}
	if _, err := c.CreateStream(ctx, in); err != nil {
		tb.Fatalf("create stream %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
			tb.Errorf("delete stream %s: %v", name, err)
		}
	})
	return waitActive(tb, ctx, c, name)
}

// waitActive polls DescribeStreamSummary until the stream is ACTIVE or ctx ends.
func waitActive(tb testing.TB, ctx context.Context, c *kinesis.Client, name string) *types.StreamDescriptionSummary {
	tb.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return out.StreamDescriptionSummary
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("stream %s not active: last error %v: %v", name, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// readAll returns every record of every shard of the stream (addressed by
// ARN), reading each shard from TRIM_HORIZON until it is caught up.
func readAll(tb testing.TB, c *kinesis.Client, arn string) map[string][]types.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamARN: aws.String(arn)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			tb.Fatalf("list shards: %v", err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	got := make(map[string][]types.Record, len(shards))
	for _, s := range shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamARN: aws.String(arn), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			tb.Fatalf("shard iterator %s: %v", aws.ToString(s.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: aws.String(arn), ShardIterator: iter})
			if err != nil {
				tb.Fatalf("get records %s: %v", aws.ToString(s.ShardId), err)
			}
			got[aws.ToString(s.ShardId)] = append(got[aws.ToString(s.ShardId)], out.Records...)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return got
}

// rssKiB returns the resident set size of process pid (Linux /proc).
func rssKiB(tb testing.TB, pid int) int {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatalf("read process status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				tb.Fatalf("parse %q: %v", line, err)
			}
			return n
		}
	}
	tb.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// newJSONLogger returns a JSON slog logger writing to w.
func newJSONLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
