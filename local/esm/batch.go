package esm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// maxInvokePayload keeps a batch below Lambda's 6 MB synchronous payload.
const maxInvokePayload = 6*1024*1024 - 64*1024

// Conditions of on-failure invocation records.
const (
	ConditionRetriesExhausted = "RetryAttemptsExhausted"
	ConditionRecordAge        = "RecordAgeExceeded"
)

// batchLen returns how many records from the front of buf make one batch:
// at most size records and below the invoke payload limit (at least one).
func batchLen(buf []ktypes.Record, size int) int {
	total := 64
	for i, r := range buf {
		if i == size {
			return i
		}
		total += recordJSONSize(r)
		if total > maxInvokePayload && i > 0 {
			return i
		}
	}
	return len(buf)
}

func recordJSONSize(r ktypes.Record) int {
	return (len(r.Data)+2)/3*4 + len(aws.ToString(r.PartitionKey)) + 2*len(aws.ToString(r.SequenceNumber)) + 512
}

// BuildEvent builds the events.KinesisEvent Lambda sends for records of a
// shard.
func (p *Poller) BuildEvent(shardID string, recs []ktypes.Record) events.KinesisEvent {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		seq := aws.ToString(r.SequenceNumber)
		kr := events.KinesisRecord{
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
			Data:                        r.Data,
			PartitionKey:                aws.ToString(r.PartitionKey),
			SequenceNumber:              seq,
			KinesisSchemaVersion:        "1.0",
		}
		if r.EncryptionType != "" && r.EncryptionType != ktypes.EncryptionTypeNone {
			kr.EncryptionType = string(r.EncryptionType)
		}
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:         p.region,
			EventID:           shardID + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    p.cfg.StreamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: p.cfg.RoleARN,
			Kinesis:           kr,
		}
	}
	return ev
}

// handle invokes the function with recs until they are all handled.
// retries is the retry count the batch starts with, invokes the invoke
// count reported in on-failure records; cp records the sequence number up
// to which records are handled (the shard's checkpoint, or nothing for a
// lane of a shard read with ParallelizationFactor > 1, whose reader
// checkpoints once every lane is done).
func (p *Poller) handle(ctx context.Context, st *shardState, recs []ktypes.Record, retries, invokes int, cp func(seq string)) {
	backoff := p.cfg.RetryBackoff
	log := p.log.With("shard", st.id)
	for len(recs) > 0 && ctx.Err() == nil {
		if age := p.cfg.MaximumRecordAge; age > 0 {
			now := p.cfg.Now()
			n := 0
			for n < len(recs) && now.Sub(aws.ToTime(recs[n].ApproximateArrivalTimestamp)) > age {
				n++
			}
			if n > 0 {
				p.count(func(s *Stats) { s.Expired += int64(n) })
				p.discard(ctx, st, recs[:n], ConditionRecordAge, invokes-1, "", cp)
				recs = recs[n:]
				continue
			}
		}
		payload, err := json.Marshal(p.BuildEvent(st.id, recs))
		if err != nil {
			log.Error("encode kinesis event", "error", err.Error())
			return
		}
		p.count(func(s *Stats) { s.Batches++; s.Records += int64(len(recs)) })
		out, err := p.invoke(ctx, payload)
		if ctx.Err() != nil {
			return
		}
		var failed int // index of the first record to retry; len(recs) = none
		functionError := ""
		if err == nil {
			failed = p.firstFailure(out, recs)
			if failed == len(recs) {
				cp(aws.ToString(recs[len(recs)-1].SequenceNumber))
				return
			}
			p.count(func(s *Stats) { s.PartialFailures++ })
			log.Info("partial batch failure", "records", len(recs), "retry_from", aws.ToString(recs[failed].SequenceNumber))
			if failed > 0 {
				cp(aws.ToString(recs[failed-1].SequenceNumber))
				recs = recs[failed:]
			}
		} else {
			functionError = "Unhandled"
			log.Warn("function error", "records", len(recs), "retries", retries, "error", err.Error())
			if p.cfg.BisectBatchOnFunctionError && len(recs) > 1 {
				p.count(func(s *Stats) { s.Bisects++ })
				mid := len(recs) / 2
				p.handle(ctx, st, recs[:mid], retries, invokes+1, cp)
				p.handle(ctx, st, recs[mid:], retries, invokes+1, cp)
				return
			}
		}
		retries++
		if limit := p.cfg.MaximumRetryAttempts; limit >= 0 && retries > limit {
			p.discard(ctx, st, recs, ConditionRetriesExhausted, invokes, functionError, cp)
			return
		}
		p.count(func(s *Stats) { s.Retries++ })
		invokes++
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// invoke calls the function, counting the invocations in flight.
func (p *Poller) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	p.mu.Lock()
	p.inflight++
	p.stats.MaxConcurrent = max(p.stats.MaxConcurrent, p.inflight)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
	return p.cfg.Invoke(ctx, payload)
}

// firstFailure returns the index of the lowest failed record of a
// successful invocation's response, len(recs) if none failed, 0 if the
// response fails the whole batch.
func (p *Poller) firstFailure(out []byte, recs []ktypes.Record) int {
	if !p.cfg.ReportBatchItemFailures {
		return len(recs)
	}
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return len(recs)
	}
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(trimmed, &resp); err != nil {
		return 0
	}
	if len(resp.BatchItemFailures) == 0 {
		return len(recs)
	}
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		index[aws.ToString(r.SequenceNumber)] = i
	}
	lowest := len(recs)
	for _, f := range resp.BatchItemFailures {
		i, ok := index[f.ItemIdentifier]
		if !ok {
			return 0
		}
		lowest = min(lowest, i)
	}
	return lowest
}

// FailureRecord is the invocation record sent to an on-failure destination
// for a discarded Kinesis batch.
type FailureRecord struct {
	RequestContext   FailureRequestContext   `json:"requestContext"`
	ResponseContext  *FailureResponseContext `json:"responseContext,omitempty"`
	Version          string                  `json:"version"`
	Timestamp        string                  `json:"timestamp"`
	KinesisBatchInfo KinesisBatchInfo        `json:"KinesisBatchInfo"`
	// Payload is the invocation event (a KinesisEvent as JSON text); only
	// S3 destinations receive it.
	Payload string `json:"payload,omitempty"`
}

// FailureRequestContext is FailureRecord.requestContext.
type FailureRequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// FailureResponseContext is FailureRecord.responseContext.
type FailureResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// KinesisBatchInfo identifies the discarded records.
type KinesisBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamArn                       string `json:"streamArn"`
}

const stampLayout = "2006-01-02T15:04:05.000Z"

// discard sends recs to the on-failure destination (retrying until it
// succeeds or ctx ends) and checkpoints past them (cp).
func (p *Poller) discard(ctx context.Context, st *shardState, recs []ktypes.Record, condition string, invokes int, functionError string, cp func(seq string)) {
	now := p.cfg.Now().UTC()
	rec := FailureRecord{
		RequestContext: FailureRequestContext{
			RequestID:              newUUID(),
			FunctionArn:            p.cfg.FunctionARN,
			Condition:              condition,
			ApproximateInvokeCount: invokes,
		},
		Version:   "1.0",
		Timestamp: now.Format(stampLayout),
		KinesisBatchInfo: KinesisBatchInfo{
			ShardID:                         st.id,
			StartSequenceNumber:             aws.ToString(recs[0].SequenceNumber),
			EndSequenceNumber:               aws.ToString(recs[len(recs)-1].SequenceNumber),
			ApproximateArrivalOfFirstRecord: aws.ToTime(recs[0].ApproximateArrivalTimestamp).UTC().Format(stampLayout),
			ApproximateArrivalOfLastRecord:  aws.ToTime(recs[len(recs)-1].ApproximateArrivalTimestamp).UTC().Format(stampLayout),
			BatchSize:                       len(recs),
			StreamArn:                       p.cfg.StreamARN,
		},
	}
	if invokes > 0 {
		rec.ResponseContext = &FailureResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: functionError}
	}
	p.log.Warn("discarding records", "shard", st.id, "condition", condition, "records", len(recs),
		"start_sequence_number", rec.KinesisBatchInfo.StartSequenceNumber, "destination", p.cfg.OnFailure)
	backoff := p.cfg.RetryBackoff
	for p.cfg.OnFailure != "" {
		err := p.send(ctx, st, rec, recs, now)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		p.count(func(s *Stats) { s.PollErrors++ })
		p.log.Error("send to on-failure destination failed", "shard", st.id, "error", err.Error())
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	p.count(func(s *Stats) { s.OnFailureBatches++; s.OnFailureRecords += int64(len(recs)) })
	cp(aws.ToString(recs[len(recs)-1].SequenceNumber))
}

func (p *Poller) send(ctx context.Context, st *shardState, rec FailureRecord, recs []ktypes.Record, now time.Time) error {
	dest := p.cfg.OnFailure
	if strings.HasPrefix(dest, "arn:aws:s3:::") {
		payload, err := json.Marshal(p.BuildEvent(st.id, recs))
		if err != nil {
			return fmt.Errorf("encode kinesis event: %w", err)
		}
		rec.Payload = string(payload)
		body, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode invocation record: %w", err)
		}
		bucket := strings.TrimPrefix(dest, "arn:aws:s3:::")
		key := fmt.Sprintf("aws/lambda/%s/%s/%s/%s-%s", p.cfg.UUID, st.id, now.Format("2006/01/02"),
			now.Format("2006-01-02T15.04.05"), newUUID())
		if _, err := p.cfg.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentType: aws.String("application/json"),
		}); err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
		}
		return nil
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode invocation record: %w", err)
	}
	url, err := p.queueURL(ctx)
	if err != nil {
		return err
	}
	if _, err := p.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("send message to %s: %w", url, err)
	}
	return nil
}

func (p *Poller) queueURL(ctx context.Context) (string, error) {
	p.mu.Lock()
	url := p.sqsQueueURL
	p.mu.Unlock()
	if url != "" {
		return url, nil
	}
	name, account, _ := sqsQueue(p.cfg.OnFailure) // validated in New
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(name)}
	if account != "" {
		in.QueueOwnerAWSAccountId = aws.String(account)
	}
	out, err := p.cfg.SQS.GetQueueUrl(ctx, in)
	if err != nil {
		return "", fmt.Errorf("get queue url of %s: %w", name, err)
	}
	if aws.ToString(out.QueueUrl) == "" {
		return "", errors.New("get queue url of " + name + ": empty answer")
	}
	p.mu.Lock()
	p.sqsQueueURL = aws.ToString(out.QueueUrl)
	p.mu.Unlock()
	return aws.ToString(out.QueueUrl), nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
