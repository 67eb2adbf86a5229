// Package esm is a local Kinesis event source mapping: it polls a Kinesis
// stream through the AWS SDK (so through the local edge) and invokes a
// function with events.KinesisEvent batches the way Lambda's ESM does.
//
//	m, _ := lambdaClient.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: &id})
//	cfg := esm.FromMapping(m)
//	cfg.Invoke, cfg.Kinesis, cfg.SQS = runner.Invoke, kinesisClient, sqsClient
//	p, err := esm.New(cfg)
//	go p.Run(ctx)
//	...
//	err = p.WaitIdle(ctx) // everything in the stream before this call is handled
//
// Semantics, per shard, in order:
//   - batches of up to BatchSize records (and below the 6 MB invoke
//     limit), gathered for up to MaximumBatchingWindow;
//   - with ReportBatchItemFailures, a response listing batchItemFailures
//     checkpoints just before the lowest failed sequence number and retries
//     from there; an empty or invalid itemIdentifier, or a response that is
//     not a KinesisEventResponse, fails the whole batch;
//   - a function error retries the batch (halves with
//     BisectBatchOnFunctionError; splitting uses no retries) up to
//     MaximumRetryAttempts (-1 = forever), then sends an invocation record
//     (condition RetryAttemptsExhausted) to the on-failure destination and
//     moves on;
//   - records older than MaximumRecordAge are not invoked and go to the
//     on-failure destination (condition RecordAgeExceeded);
//   - ListShards runs every ShardRefresh; child shards start after their
//     parent is fully read, from TRIM_HORIZON.
//
// Differences from AWS: checkpoints live in memory (a restarted poller
// begins at StartingPosition again). With ParallelizationFactor > 1 a
// shard's records are read ParallelizationFactor batches at a time and
// split into that many lanes by partition key; the lanes are invoked
// concurrently, each in order, and the next records are read once every
// lane is done (Lambda keeps the lanes going independently; both keep
// each partition key in order and run up to that many batches per shard
// at once).
package esm

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Stats are counters since New.
type Stats struct {
	Shards           int               // shards being or having been read
	Batches          int64             // invocations
	Records          int64             // records in invocations (retries count again)
	Retries          int64             // re-invocations after a function error or partial failure
	Bisects          int64             // batch splits
	PartialFailures  int64             // responses with batchItemFailures
	OnFailureBatches int64             // invocation records sent to the on-failure destination (or dropped without one)
	OnFailureRecords int64             // records those covered
	Expired          int64             // of which records skipped for MaximumRecordAge
	PollErrors       int64             // failed ListShards/GetShardIterator/GetRecords calls
	MaxConcurrent    int64             // most invocations in flight at once (all shards)
	Checkpoints      map[string]string // shard id -> last sequence number handled
}

// Poller runs one event source mapping. Create it with New and start it
// with Run.
type Poller struct {
	cfg    Config
	stream string
	region string
	log    *slog.Logger

	mu          sync.Mutex
	shards      map[string]*shardState
	stats       Stats
	changed     chan struct{} // closed and replaced on every state change
	refreshes   uint64        // completed ListShards refreshes
	refreshReq  chan struct{}
	running     bool
	sqsQueueURL string
	inflight    int64 // invocations in flight
}

type shardState struct {
	id         string
	parent     string
	checkpoint string
	polls      uint64 // polls started
	idlePoll   uint64 // number of the latest poll that found nothing with nothing pending
	finished   bool   // closed shard read to its end
	closed     bool   // ListShards reported an ending sequence number
	done       chan struct{}
}

// New validates cfg (after Defaults) and returns a Poller.
func New(cfg Config) (*Poller, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("esm config: %w", err)
	}
	name, _ := streamName(cfg.StreamARN)
	region, _ := arnRegionAccount(cfg.StreamARN)
	return &Poller{
		cfg:        cfg,
		stream:     name,
		region:     region,
		log:        cfg.Logger.With("stream", name, "function", cfg.FunctionARN),
		shards:     map[string]*shardState{},
		changed:    make(chan struct{}),
		refreshReq: make(chan struct{}, 1),
		stats:      Stats{Checkpoints: map[string]string{}},
	}, nil
}

// Stats returns a snapshot of the counters.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Shards = len(p.shards)
	s.Checkpoints = maps.Clone(p.stats.Checkpoints)
	return s
}

// Run polls until ctx ends, then waits for the shard consumers and returns
// nil. It may be called once.
func (p *Poller) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("esm: run called twice")
	}
	p.running = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	first := true
	t := time.NewTicker(p.cfg.ShardRefresh)
	defer t.Stop()
	for {
		if err := p.refresh(ctx, &wg, first); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.count(func(s *Stats) { s.PollErrors++ })
			p.log.Warn("list shards failed", "error", err.Error())
		} else {
			first = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-p.refreshReq:
		}
	}
}

// refresh lists the shards and starts a consumer for each new one.
func (p *Poller) refresh(ctx context.Context, wg *sync.WaitGroup, initial bool) error {
	var shards []ktypes.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(p.stream)}
	for {
		out, err := p.cfg.Kinesis.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("list shards of %s: %w", p.stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	p.mu.Lock()
	var started []*shardState
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
		if st, ok := p.shards[id]; ok {
			st.closed = st.closed || closed
			continue
		}
		st := &shardState{id: id, parent: aws.ToString(sh.ParentShardId), closed: closed, done: make(chan struct{})}
		p.shards[id] = st
		started = append(started, st)
	}
	p.refreshes++
	p.notifyLocked()
	p.mu.Unlock()
	for _, st := range started {
		pos := p.cfg.StartingPosition
		if !initial {
			pos = TrimHorizon
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.runShard(ctx, st, pos)
		}()
	}
	return nil
}

// WaitIdle blocks until every record that was in the stream when it was
// called has been handled (invoked successfully, or sent to on-failure),
// or ctx ends. It needs Run to be running.
func (p *Poller) WaitIdle(ctx context.Context) error {
	select {
	case p.refreshReq <- struct{}{}:
	default:
	}
	p.mu.Lock()
	wantRefresh := p.refreshes + 1
	p.mu.Unlock()
	var want map[string]uint64
	for {
		p.mu.Lock()
		ch := p.changed
		if p.refreshes >= wantRefresh {
			if want == nil {
				want = map[string]uint64{}
				for id, st := range p.shards {
					want[id] = st.polls + 1
				}
			}
			idle := true
			for id, st := range p.shards {
				w, ok := want[id]
				if !ok {
					w = 1 // appeared since: it must have been read to an empty poll
				}
				if !st.finished && st.idlePoll < w {
					idle = false
					break
				}
			}
			if idle {
				p.mu.Unlock()
				return nil
			}
		}
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be idle: %w", p.stream, ctx.Err())
		}
	}
}

func (p *Poller) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Poller) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

func (p *Poller) setCheckpoint(st *shardState, seq string) {
	p.mu.Lock()
	st.checkpoint = seq
	p.stats.Checkpoints[st.id] = seq
	p.notifyLocked()
	p.mu.Unlock()
}

// iterator returns a shard iterator for pos, or after the checkpoint if
// there is one.
func (p *Poller) iterator(ctx context.Context, st *shardState, pos string) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(p.stream), ShardId: aws.String(st.id)}
	p.mu.Lock()
	cp := st.checkpoint
	p.mu.Unlock()
	switch {
	case cp != "":
		in.ShardIteratorType = ktypes.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(cp)
	case pos == AtTimestamp:
		in.ShardIteratorType = ktypes.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(p.cfg.StartingPositionTimestamp)
	default:
		in.ShardIteratorType = ktypes.ShardIteratorType(pos)
	}
	out, err := p.cfg.Kinesis.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get shard iterator for %s: %w", st.id, err)
	}
	return out.ShardIterator, nil
}

// runShard consumes one shard until it is finished or ctx ends.
func (p *Poller) runShard(ctx context.Context, st *shardState, pos string) {
	log := p.log.With("shard", st.id)
	if st.parent != "" {
		p.mu.Lock()
		parent := p.shards[st.parent]
		p.mu.Unlock()
		if parent != nil {
			select {
			case <-parent.done:
			case <-ctx.Done():
				return
			}
		}
	}
	defer close(st.done)
	var iter *string
	var buf []ktypes.Record
	var firstBuffered time.Time
	backoff := p.cfg.RetryBackoff
	// Enough records for one batch per lane (GetRecords returns at most
	// 10,000).
	target := min(p.cfg.BatchSize*p.cfg.ParallelizationFactor, maxGetRecords)
	for ctx.Err() == nil {
		if iter == nil {
			it, err := p.iterator(ctx, st, pos)
			if err != nil {
				p.count(func(s *Stats) { s.PollErrors++ })
				log.Warn("get shard iterator failed", "error", err.Error())
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			iter = it
			if iter == nil {
				p.finish(st)
				return
			}
		}
		p.mu.Lock()
		st.polls++
		poll := st.polls
		p.mu.Unlock()
		out, err := p.cfg.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: iter,
			Limit:         aws.Int32(int32(max(1, target-len(buf)))),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.count(func(s *Stats) { s.PollErrors++ })
			var expired *ktypes.ExpiredIteratorException
			if errors.As(err, &expired) {
				// Re-read after the checkpoint; drop what was buffered.
				iter, buf = nil, nil
				continue
			}
			log.Warn("get records failed", "error", err.Error())
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = p.cfg.RetryBackoff
		if len(buf) == 0 && len(out.Records) > 0 {
			firstBuffered = p.cfg.Now()
		}
		buf = append(buf, out.Records...)
		closed := out.NextShardIterator == nil
		iter = out.NextShardIterator
		caughtUp := len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0

		window := p.cfg.MaximumBatchingWindow
		waiting := window > 0 && len(buf) > 0 && len(buf) < target && !closed &&
			p.cfg.Now().Sub(firstBuffered) < window
		if !waiting && len(buf) > 0 {
			p.handleLanes(ctx, st, buf)
			buf = nil
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		// Kinesis ends a closed shard with a nil iterator; some emulators
		// keep answering empty pages instead, so a closed shard read up to
		// the present is finished too.
		ended := closed || (st.closed && caughtUp)
		p.mu.Unlock()
		if ended && len(buf) == 0 {
			p.finish(st)
			log.Info("shard finished")
			return
		}
		if caughtUp && len(buf) == 0 {
			p.mu.Lock()
			st.idlePoll = poll
			p.notifyLocked()
			p.mu.Unlock()
		}
		if caughtUp || waiting {
			d := p.cfg.PollInterval
			if waiting {
				d = min(d, window-p.cfg.Now().Sub(firstBuffered))
			}
			if !sleep(ctx, d) {
				return
			}
		}
	}
}

// maxGetRecords is the most records one GetRecords call returns.
const maxGetRecords = 10000

// handleLanes handles buf, records read from one shard, in batches. With
// ParallelizationFactor 1 the batches run one after the other, each
// checkpointing the shard. Otherwise buf is split into that many lanes by
// partition key (a key always falls in the same lane, its records in
// order), the lanes run concurrently, each its batches in order, and the
// shard is checkpointed past buf once every lane is done.
func (p *Poller) handleLanes(ctx context.Context, st *shardState, buf []ktypes.Record) {
	cp := func(seq string) { p.setCheckpoint(st, seq) }
	run := func(recs []ktypes.Record, cp func(string)) {
		for len(recs) > 0 && ctx.Err() == nil {
			n := batchLen(recs, p.cfg.BatchSize)
			p.handle(ctx, st, recs[:n], 0, 1, cp)
			recs = recs[n:]
		}
	}
	lanes := p.cfg.ParallelizationFactor
	if lanes <= 1 {
		run(buf, cp)
		return
	}
	split := make([][]ktypes.Record, lanes)
	for _, r := range buf {
		i := laneOf(aws.ToString(r.PartitionKey), lanes)
		split[i] = append(split[i], r)
	}
	var wg sync.WaitGroup
	for _, recs := range split {
		if len(recs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(recs, func(string) {})
		}()
	}
	wg.Wait()
	if ctx.Err() == nil {
		cp(aws.ToString(buf[len(buf)-1].SequenceNumber))
	}
}

// laneOf maps a partition key to one of n lanes.
func laneOf(key string, n int) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(key))
	return int(f.Sum32() % uint32(n))
}

func (p *Poller) finish(st *shardState) {
	p.mu.Lock()
	st.finished = true
	p.notifyLocked()
	p.mu.Unlock()
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
