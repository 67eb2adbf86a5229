package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/spillwayhq/spillway/shared/atomicfile"
)

// AcceptEncodingHeader is the response header by which an import endpoint
// (Spillway's ingest) says which body encodings besides gzip it takes:
// "zstd" lets compression auto send msgpack.zst.
const AcceptEncodingHeader = "X-Spillway-Accept-Encoding"

// What compression auto knows of an endpoint. The zero value sends gzip,
// the one format every TD import endpoint documents.
const (
	encUnknown int32 = iota // gzip until the endpoint says it takes zstd
	encZstd                 // the endpoint said it takes zstd
	encGzip                 // it refused a zstd body: gzip for good
)

var encNames = map[int32]string{encZstd: "zstd", encGzip: "gzip"}

// endpointState is the state file: per endpoint URL, "zstd" or "gzip".
type endpointState struct {
	Endpoints map[string]string `json:"endpoints"`
}

// negotiator remembers what each endpoint takes and keeps it in the state
// file.
type negotiator struct {
	path string
	mu   sync.Mutex
	st   endpointState
}

func loadNegotiator(path string) (*negotiator, error) {
	n := &negotiator{path: path, st: endpointState{Endpoints: map[string]string{}}}
	if path == "" {
		return n, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read endpoint state: %w", err)
	}
	if err := json.Unmarshal(data, &n.st); err != nil {
		// Forgetting is safe: gzip is sent until an endpoint says again.
		return n, nil
	}
	if n.st.Endpoints == nil {
		n.st.Endpoints = map[string]string{}
	}
	return n, nil
}

// get returns what is known of url.
func (n *negotiator) get(url string) int32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range encNames {
		if n.st.Endpoints[url] == v {
			return k
		}
	}
	return encUnknown
}

// set records what is known of url and saves the state when it changed.
func (n *negotiator) set(url string, enc int32) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Endpoints[url] == encNames[enc] {
		return nil
	}
	n.st.Endpoints[url] = encNames[enc]
	if n.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(n.st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(n.path, data); err != nil {
		return fmt.Errorf("save endpoint state: %w", err)
	}
	return nil
}

// observer is an http.RoundTripper that reads AcceptEncodingHeader from the
// endpoint's successful answers.
type observer struct {
	next http.RoundTripper
	saw  func(zstd bool)
}

func (o observer) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := o.next.RoundTrip(r)
	if err == nil && res.StatusCode/100 == 2 {
		o.saw(acceptsZstd(res.Header.Values(AcceptEncodingHeader)))
	}
	return res, err
}

// acceptsZstd reports whether the header values list "zstd".
func acceptsZstd(vs []string) bool {
	for _, v := range vs {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), "zstd") {
				return true
			}
		}
	}
	return false
}

// learn handles what endpoint ep said on a successful answer: saying zstd
// makes an unknown endpoint a zstd one; one that stops saying it is sent
// gzip again. A refusal of a zstd body (encGzip) is not overridden.
func (o *Output) learn(ep int, zstd bool) {
	cur := o.enc[ep].Load()
	next := cur
	switch {
	case cur == encGzip:
		return
	case zstd:
		next = encZstd
	default:
		next = encUnknown
	}
	if next == cur || !o.enc[ep].CompareAndSwap(cur, next) {
		return
	}
	if next == encZstd {
		o.log.Info("endpoint takes zstd bodies; sending it msgpack.zst", "endpoint", o.names[ep])
	} else {
		o.log.Info("endpoint no longer says it takes zstd; sending it msgpack.gz", "endpoint", o.names[ep])
	}
	if err := o.neg.set(o.names[ep], next); err != nil {
		o.log.Warn("endpoint state not saved", "error", err)
	}
}

// refusedZstd records that endpoint ep refused a zstd body and took gzip.
func (o *Output) refusedZstd(ep int) {
	o.enc[ep].Store(encGzip)
	if err := o.neg.set(o.names[ep], encGzip); err != nil {
		o.log.Warn("endpoint state not saved", "error", err)
	}
}

// zstdOK reports whether a zstd body may be sent to endpoint ep.
func (o *Output) zstdOK(ep int) bool {
	switch o.cfg.Compression {
	case CompressionZstd:
		return true
	case CompressionAuto:
		return o.enc[ep].Load() == encZstd
	}
	return false
}
