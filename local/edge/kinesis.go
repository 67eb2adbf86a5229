package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
)

// putRecordsRequest keeps every field of a PutRecords request verbatim
// except Records, which is split.
type putRecordsRequest struct {
	fields  map[string]json.RawMessage
	records []json.RawMessage
}

// errNotPutRecords reports a body that is not a PutRecords request.
var errNotPutRecords = errors.New("not a PutRecords request body")

// parsePutRecords decodes a Kinesis PutRecords JSON body leniently.
func parsePutRecords(body []byte) (putRecordsRequest, error) {
	var req putRecordsRequest
	if err := json.Unmarshal(body, &req.fields); err != nil {
		return req, fmt.Errorf("%w: %w", errNotPutRecords, err)
	}
	raw, ok := req.fields["Records"]
	if !ok {
		return req, fmt.Errorf("%w: no Records", errNotPutRecords)
	}
	if err := json.Unmarshal(raw, &req.records); err != nil {
		return req, fmt.Errorf("%w: Records: %w", errNotPutRecords, err)
	}
	if len(req.records) == 0 {
		return req, fmt.Errorf("%w: empty Records", errNotPutRecords)
	}
	return req, nil
}

// body re-encodes the request with only the records at keep.
func (p putRecordsRequest) body(keep []int) ([]byte, error) {
	recs := make([]json.RawMessage, 0, len(keep))
	for _, i := range keep {
		recs = append(recs, p.records[i])
	}
	fields := make(map[string]json.RawMessage, len(p.fields))
	for k, v := range p.fields {
		fields[k] = v
	}
	r, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("encode records: %w", err)
	}
	fields["Records"] = r
	return json.Marshal(fields)
}

// putRecordsResponse is Kinesis's answer, with records kept verbatim.
type putRecordsResponse struct {
	FailedRecordCount int               `json:"FailedRecordCount"`
	Records           []json.RawMessage `json:"Records"`
	EncryptionType    string            `json:"EncryptionType,omitempty"`
}

// throttledRecord is the per-record failure Kinesis reports.
type throttledRecord struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// mergePutRecords builds the answer for n records where the backend answered
// backend for the records at keep, and each other record i failed with
// ProvisionedThroughputExceededException and the message failed[i]. It
// returns the answer and how many records the edge failed.
func mergePutRecords(n int, keep []int, backend []byte, failed map[int]string) ([]byte, int, error) {
	var resp putRecordsResponse
	if len(keep) > 0 {
		if err := json.Unmarshal(backend, &resp); err != nil {
			return nil, 0, fmt.Errorf("decode backend PutRecords answer: %w", err)
		}
		if len(resp.Records) != len(keep) {
			return nil, 0, fmt.Errorf("backend answered %d records for %d sent", len(resp.Records), len(keep))
		}
	}
	out := putRecordsResponse{FailedRecordCount: resp.FailedRecordCount, EncryptionType: resp.EncryptionType}
	out.Records = make([]json.RawMessage, n)
	j := 0
	injected := 0
	for i := 0; i < n; i++ {
		if j < len(keep) && keep[j] == i {
			out.Records[i] = resp.Records[j]
			j++
			continue
		}
		rec, err := json.Marshal(throttledRecord{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: failed[i]})
		if err != nil {
			return nil, 0, fmt.Errorf("encode failed record: %w", err)
		}
		out.Records[i] = rec
		out.FailedRecordCount++
		injected++
	}
	b, err := json.Marshal(out)
	return b, injected, err
}

// complement returns the indexes in [0,n) not in sorted fail.
func complement(n int, fail []int) []int {
	keep := make([]int, 0, n-len(fail))
	j := 0
	for i := 0; i < n; i++ {
		if j < len(fail) && fail[j] == i {
			j++
			continue
		}
		keep = append(keep, i)
	}
	return keep
}

// forwardPutRecords forwards the records of req not in failed (index to
// error message) and answers for all of them, the failed ones reported as
// Kinesis reports throughput failures.
func (s *Server) forwardPutRecords(w http.ResponseWriter, r *http.Request, c Call, req putRecordsRequest, failed map[int]string) {
	n := len(req.records)
	fail := make([]int, 0, len(failed))
	for i := range failed {
		fail = append(fail, i)
	}
	sort.Ints(fail)
	keep := complement(n, fail)
	var backend []byte
	header := http.Header{}
	if len(keep) > 0 {
		sub, err := req.body(keep)
		if err != nil {
			writeAWSError(w, r, c, http.StatusInternalServerError, "InternalFailure", err.Error())
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.backendFor(c).String()+r.URL.RequestURI(), bytes.NewReader(sub))
		if err != nil {
			writeAWSError(w, r, c, http.StatusInternalServerError, "InternalFailure", err.Error())
			return
		}
		for k, v := range r.Header {
			if k == "Content-Length" || k == "Accept-Encoding" {
				continue
			}
			out.Header[k] = v
		}
		resp, err := s.client.Do(out)
		if err != nil {
			writeAWSError(w, r, c, http.StatusBadGateway, "InternalFailure", "backend: "+err.Error())
			return
		}
		backend, err = io.ReadAll(io.LimitReader(resp.Body, maxBufferedBody))
		_ = resp.Body.Close()
		if err != nil {
			writeAWSError(w, r, c, http.StatusBadGateway, "InternalFailure", "backend: "+err.Error())
			return
		}
		header = resp.Header
		if resp.StatusCode != http.StatusOK {
			copyHeader(w.Header(), header)
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(backend)
			return
		}
	}
	merged, _, err := mergePutRecords(n, keep, backend, failed)
	if err != nil {
		writeAWSError(w, r, c, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	if id := header.Get("X-Amzn-Requestid"); id != "" {
		h.Set("X-Amzn-RequestId", id)
	} else {
		h.Set("X-Amzn-RequestId", requestID())
	}
	h.Set("Content-Length", strconv.Itoa(len(merged)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(merged)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		if k == "Content-Length" {
			continue
		}
		dst[k] = append([]string(nil), v...)
	}
}
