package edge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// BillingUnits are the units AWS bills a call in, beyond the request
// itself, as the edge measures them from the request and response bodies
// (Kinesis and DynamoDB units only while Config.Metering is on). A
// CallCount sums them over its calls.
type BillingUnits struct {
	// KinesisRecords are the records PutRecord and PutRecords stored (the
	// ones the answer reports without an ErrorCode).
	KinesisRecords int64 `json:"kinesis_records,omitempty"`
	// KinesisPayloadUnits are provisioned mode's PUT payload units: each
	// stored record (data blob plus partition key) in 25 KB chunks, a 5 KB
	// record one unit, a 45 KB record two
	// (https://aws.amazon.com/kinesis/data-streams/pricing/, provisioned).
	KinesisPayloadUnits int64 `json:"kinesis_payload_units,omitempty"`
	// KinesisWrittenKB is on-demand mode's data in: each stored record
	// rounded up to the next 1 KB (1,024 bytes), a 4.5 KB record 5 KB
	// (same page, on-demand "Data-In").
	KinesisWrittenKB int64 `json:"kinesis_written_kb,omitempty"`
	// KinesisReadBytes are the data blobs GetRecords returned (on-demand
	// mode's data retrieval, billed per GB).
	KinesisReadBytes int64 `json:"kinesis_read_bytes,omitempty"`
	// DynamoDBReadUnits are read request units: per item read, its size
	// rounded up to 4 KB, one unit per 4 KB strongly consistent, half
	// eventually consistent, two transactional; Query and Scan round the
	// sum of the items they return once; an item that is not found still
	// costs the minimum
	// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
	// The edge sizes the items the answer holds, so a projection reads as
	// smaller than AWS bills it.
	DynamoDBReadUnits float64 `json:"dynamodb_read_units,omitempty"`
	// DynamoDBWriteUnits are write request units: per item written, the
	// larger of its sizes before and after the write rounded up to 1 KB
	// (at least 1), doubled in a transaction; a write whose condition failed
	// still consumes the units of the existing item (at least 1), and so does
	// a cancelled transaction (same page). The sizes before and after are read
	// from the backend (Config.Metering); where they cannot be, an update is
	// sized by its key and values and a delete by its key.
	DynamoDBWriteUnits float64 `json:"dynamodb_write_units,omitempty"`
	// S3Class is the S3 request pricing class of the operation: "tier1"
	// (PUT, COPY, POST, LIST), "tier2" (GET, SELECT and every other
	// request) or "free" (DELETE and CANCEL)
	// (https://aws.amazon.com/s3/pricing/, "Requests & data retrievals").
	S3Class string `json:"s3_class,omitempty"`
}

// Add adds o's units to b (and takes o's S3Class when it has one).
func (b *BillingUnits) Add(o BillingUnits) { b.addScaled(o, 1) }

// Sub takes an earlier count's units o from b.
func (b *BillingUnits) Sub(o BillingUnits) { b.addScaled(o, -1) }

func (b *BillingUnits) addScaled(o BillingUnits, sign int64) {
	b.KinesisRecords += sign * o.KinesisRecords
	b.KinesisPayloadUnits += sign * o.KinesisPayloadUnits
	b.KinesisWrittenKB += sign * o.KinesisWrittenKB
	b.KinesisReadBytes += sign * o.KinesisReadBytes
	b.DynamoDBReadUnits += float64(sign) * o.DynamoDBReadUnits
	b.DynamoDBWriteUnits += float64(sign) * o.DynamoDBWriteUnits
	if o.S3Class != "" {
		b.S3Class = o.S3Class
	}
}

// Billing unit sizes.
const (
	kinesisPayloadUnitBytes = 25 * 1024
	kinesisOnDemandKB       = 1024
	ddbWriteUnitBytes       = 1024
	ddbReadUnitBytes        = 4 * 1024
)

// s3Classes maps S3 operations to their request pricing class; an
// operation not listed is "tier2" ("all other requests").
var s3Classes = map[string]string{
	"PutObject": "tier1", "CopyObject": "tier1", "PostObject": "tier1", "UploadPart": "tier1",
	"CreateMultipartUpload": "tier1", "CompleteMultipartUpload": "tier1",
	"ListObjects": "tier1", "ListObjectsV2": "tier1", "ListBuckets": "tier1", "ListParts": "tier1",
	"ListMultipartUploads": "tier1", "ListObjectVersions": "tier1", "CreateBucket": "tier1",
	"PutBucketPolicy": "tier1",
	"DeleteObject":    "free", "DeleteObjects": "free", "AbortMultipartUpload": "free",
	"DeleteBucket": "free", "DeleteBucketPolicy": "free",
}

// ddbReadOps are the DynamoDB reads the edge meters from their answers.
var ddbReadOps = map[string]bool{"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true, "TransactGetItems": true}

// meter measures the billing units of one call: it reads what it needs of
// the request before the call is served and of the answer afterwards.
type meter struct {
	s    *Server
	r    *http.Request
	c    Call
	body []byte
	// before are the stored sizes of the written items (by action), read
	// from the backend before the write; -1 where not read.
	before []int
	write  ddbWrite
	keys   []item
}

// startMeter returns the meter of a call whose units depend on its bodies
// (nil for the others, and for every call while metering is off). It
// buffers the request body, which stays readable.
func (s *Server) startMeter(r *http.Request, c Call) *meter {
	if !s.metering.Load() {
		return nil
	}
	switch {
	case c.Service == "kinesis" && (c.Operation == "PutRecords" || c.Operation == "PutRecord" || c.Operation == "GetRecords"),
		c.Service == "dynamodb" && (ddbWriteOps[c.Operation] || ddbReadOps[c.Operation]):
	default:
		return nil
	}
	m := &meter{s: s, r: r, c: c}
	if r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
		if err != nil {
			return nil
		}
		m.body = body
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if c.Service == "dynamodb" && ddbWriteOps[c.Operation] {
		w, err := parseDDBWrite(c.Operation, m.body)
		if err != nil {
			return m
		}
		m.write = w
		m.keys = make([]item, len(w.actions))
		m.before = make([]int, len(w.actions))
		for i, a := range w.actions {
			m.before[i] = -1
			m.keys[i] = a.key
			if a.put != nil && a.table != "" {
				if ks, err := s.tableKeys(r, c, a.table); err == nil {
					m.keys[i] = ks.keyOf(a.put)
				}
			}
			if a.table != "" && len(m.keys[i]) > 0 {
				if n, ok := s.storedItemSize(r, c, a.table, m.keys[i]); ok {
					m.before[i] = n
				}
			}
		}
	}
	return m
}

// units measures the call's units from its answer.
func (m *meter) units(status int, header http.Header, resp []byte) BillingUnits {
	if strings.EqualFold(header.Get("Content-Encoding"), "gzip") {
		if zr, err := gzip.NewReader(bytes.NewReader(resp)); err == nil {
			if b, err := io.ReadAll(io.LimitReader(zr, 4*maxBufferedBody)); err == nil {
				resp = b
			}
		}
	}
	switch {
	case m.c.Service == "kinesis":
		if status != http.StatusOK {
			return BillingUnits{}
		}
		return kinesisUnits(m.c.Operation, m.body, resp)
	case ddbReadOps[m.c.Operation]:
		if status != http.StatusOK {
			return BillingUnits{}
		}
		return BillingUnits{DynamoDBReadUnits: ddbReadUnits(m.c.Operation, m.body, resp)}
	default:
		return BillingUnits{DynamoDBWriteUnits: m.writeUnits(status, resp)}
	}
}

// writeUnits bills each action of a DynamoDB write.
func (m *meter) writeUnits(status int, resp []byte) float64 {
	failed := false
	if status != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(resp, &e)
		// A failed condition and a cancelled transaction consume capacity;
		// a refused request (validation, throttling) does not.
		if !strings.HasSuffix(e.Type, "ConditionalCheckFailedException") && !strings.HasSuffix(e.Type, "TransactionCanceledException") {
			return 0
		}
		failed = true
	}
	factor := 1.0
	if m.write.op == "TransactWriteItems" {
		factor = 2
	}
	total := 0.0
	for i, a := range m.write.actions {
		size := max(m.before[i], 0)
		if !failed {
			switch {
			case a.put != nil:
				if n, err := itemSize(a.put); err == nil {
					size = max(size, n)
				}
			case a.values != nil || m.write.op == "UpdateItem":
				after := -1
				if a.table != "" && len(m.keys[i]) > 0 {
					if n, ok := m.s.storedItemSize(m.r, m.c, a.table, m.keys[i]); ok {
						after = n
					}
				}
				if after < 0 {
					k, _ := itemSize(a.key)
					v, _ := itemSize(a.values)
					after = max(m.before[i], 0) + k + v
				}
				size = max(size, after)
			}
			if size == 0 {
				size, _ = itemSize(a.key)
			}
		}
		total += factor * float64(roundUp(size, ddbWriteUnitBytes))
	}
	return total
}

// roundUp is size in units of unit, rounded up, at least 1.
func roundUp(size, unit int) int {
	return max(1, (size+unit-1)/unit)
}

// storedItemSize reads an item's stored size from the backend (a strongly
// consistent GetItem, not counted as a call); false when it cannot be read
// or the item does not exist.
func (s *Server) storedItemSize(r *http.Request, c Call, table string, key item) (int, bool) {
	body, err := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	if err != nil {
		return 0, false
	}
	b, err := s.backendDDB(r, c, "GetItem", body)
	if err != nil {
		return 0, false
	}
	var out struct{ Item item }
	if json.Unmarshal(b, &out) != nil || out.Item == nil {
		return 0, false
	}
	n, err := itemSize(out.Item)
	return n, err == nil
}

// ddbReadUnits bills a DynamoDB read from its request and answer.
func ddbReadUnits(op string, req, resp []byte) float64 {
	consistency := func(consistent bool) float64 {
		if consistent {
			return 1
		}
		return 0.5
	}
	perItem := func(it item) int {
		n, _ := itemSize(it)
		return roundUp(n, ddbReadUnitBytes)
	}
	switch op {
	case "GetItem":
		var in struct{ ConsistentRead bool }
		var out struct{ Item item }
		_ = json.Unmarshal(req, &in)
		_ = json.Unmarshal(resp, &out)
		return consistency(in.ConsistentRead) * float64(perItem(out.Item))
	case "BatchGetItem":
		var in struct {
			RequestItems map[string]struct {
				Keys           []item
				ConsistentRead bool
			}
		}
		var out struct {
			Responses       map[string][]item
			UnprocessedKeys map[string]struct{ Keys []item }
		}
		_ = json.Unmarshal(req, &in)
		_ = json.Unmarshal(resp, &out)
		total := 0.0
		for table, ri := range in.RequestItems {
			units := 0
			for _, it := range out.Responses[table] {
				units += perItem(it)
			}
			// Keys not found cost the minimum each.
			missing := len(ri.Keys) - len(out.Responses[table]) - len(out.UnprocessedKeys[table].Keys)
			units += max(missing, 0)
			total += consistency(ri.ConsistentRead) * float64(units)
		}
		return total
	case "Query", "Scan":
		var in struct{ ConsistentRead bool }
		var out struct{ Items []item }
		_ = json.Unmarshal(req, &in)
		_ = json.Unmarshal(resp, &out)
		size := 0
		for _, it := range out.Items {
			n, _ := itemSize(it)
			size += n
		}
		return consistency(in.ConsistentRead) * float64(roundUp(size, ddbReadUnitBytes))
	case "TransactGetItems":
		var out struct{ Responses []struct{ Item item } }
		_ = json.Unmarshal(resp, &out)
		total := 0
		for _, r := range out.Responses {
			total += 2 * perItem(r.Item)
		}
		return float64(total)
	}
	return 0
}

// kinesisUnits bills PutRecord, PutRecords and GetRecords.
func kinesisUnits(op string, req, resp []byte) BillingUnits {
	var u BillingUnits
	stored := func(data, partitionKey string) {
		n := base64.StdEncoding.DecodedLen(len(data)) - strings.Count(data[max(0, len(data)-2):], "=") + len(partitionKey)
		u.KinesisRecords++
		u.KinesisPayloadUnits += int64(roundUp(n, kinesisPayloadUnitBytes))
		u.KinesisWrittenKB += int64(roundUp(n, kinesisOnDemandKB))
	}
	switch op {
	case "PutRecord":
		var in struct{ Data, PartitionKey string }
		if json.Unmarshal(req, &in) == nil {
			stored(in.Data, in.PartitionKey)
		}
	case "PutRecords":
		var in struct {
			Records []struct{ Data, PartitionKey string }
		}
		var out struct{ Records []struct{ ErrorCode string } }
		if json.Unmarshal(req, &in) != nil || json.Unmarshal(resp, &out) != nil || len(out.Records) != len(in.Records) {
			return u
		}
		for i, r := range in.Records {
			if out.Records[i].ErrorCode == "" {
				stored(r.Data, r.PartitionKey)
			}
		}
	case "GetRecords":
		var out struct{ Records []struct{ Data string } }
		if json.Unmarshal(resp, &out) == nil {
			for _, r := range out.Records {
				d := r.Data
				u.KinesisReadBytes += int64(base64.StdEncoding.DecodedLen(len(d)) - strings.Count(d[max(0, len(d)-2):], "="))
			}
		}
	}
	return u
}

// s3Units names an S3 call's pricing class.
func s3Units(op string) BillingUnits {
	if cl, ok := s3Classes[op]; ok {
		return BillingUnits{S3Class: cl}
	}
	return BillingUnits{S3Class: "tier2"}
}

// SetMetering turns Config.Metering on or off.
func (s *Server) SetMetering(on bool) { s.metering.Store(on) }

// callUnits are the billing units of a served call.
func (s *Server) callUnits(m *meter, c Call, cw *countingWriter) BillingUnits {
	if c.Service == "s3" {
		return s3Units(c.Operation)
	}
	if m == nil {
		return BillingUnits{}
	}
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	return m.units(status, cw.Header(), cw.capture.Bytes())
}
