// Package tdimport is a client for the Treasure Data import API as Spillway
// speaks it: import_with_id of gzip or zstd msgpack bodies, database and table
// creation, and the one HTTP retry policy of the project (connection errors,
// 408, 429 and 5xx except 501; Retry-After honoured; jittered exponential
// backoff; bounded by the context).
package tdimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/spillwayhq/spillway/shared/backoff"
)

// maxErrorBody is how much of an error answer is kept.
const maxErrorBody = 4 << 10

// Client talks to one TD-import-compatible endpoint.
type Client struct {
	Endpoint string       // base URL, e.g. https://api-import.treasuredata.com
	APIKey   string       // sent as "Authorization: TD1 <APIKey>"
	HTTP     *http.Client // nil = http.DefaultClient
	Policy   RetryPolicy  // zero = DefaultPolicy
	Logger   *slog.Logger // nil = slog.Default()
	// UserAgent is sent with every request; empty = "spillway".
	UserAgent string
}

// ImportResult is the endpoint's answer to an import.
type ImportResult struct {
	Database    string  `json:"database"`
	Table       string  `json:"table"`
	UniqueID    string  `json:"unique_id"`
	MD5Hex      string  `json:"md5_hex"`
	ElapsedTime float64 `json:"elapsed_time"`
	StatusCode  int     `json:"-"`
	Attempts    int     `json:"-"`
}

// StatusError is a non-2xx answer that retries did not cure.
type StatusError struct {
	StatusCode int
	Body       string // at most 4 KiB of the answer
	URL        string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.URL, e.StatusCode, strings.TrimSpace(e.Body))
}

// IsPermanent reports whether err is an answer that retrying will not change:
// a 4xx other than 408 and 429.
func IsPermanent(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500 &&
		se.StatusCode != http.StatusRequestTimeout && se.StatusCode != http.StatusTooManyRequests
}

// IsContentError reports whether err is an answer about the body itself,
// which no retry of the same body can change: 400 (bad request or body),
// 413 (too large), 415 (format not supported) and 422 (invalid records).
// Only these should make a sender give up on a body (park it); 401/403 (a
// key being rotated or granted), 404 (a table not created yet) and other
// 4xx are about the endpoint's state and heal: retry them with backoff and
// alarm. IsPermanent is the wider, older class.
func IsContentError(err error) bool {
	switch Status(err) {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// IsAuthError reports whether err is a 401 or 403 answer (an unknown,
// revoked or rotated key; a key without access to the database).
func IsAuthError(err error) bool {
	s := Status(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// Status returns the status code of a StatusError in err's chain, or 0.
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a 404 answer (unknown database or table).
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusNotFound
}

// Import body formats (the last path segment of an import request).
const (
	// FormatGzip is a gzip-compressed msgpack map stream (one or more
	// members), the format every TD import endpoint accepts.
	FormatGzip = "msgpack.gz"
	// FormatZstd is a zstd-compressed msgpack map stream (one or more
	// frames), accepted by Spillway's ingest; an endpoint that does not
	// know it answers 4xx (Spillway: 415).
	FormatZstd = "msgpack.zst"
)

// ImportWithID uploads body (gzip of a msgpack map stream) to db.table with
// the given unique_id, so a repeated upload is stored once.
func (c *Client) ImportWithID(ctx context.Context, db, table, uniqueID string, body []byte) (*ImportResult, error) {
	return c.ImportWithIDFormat(ctx, db, table, uniqueID, FormatGzip, body)
}

// ImportWithIDFormat is ImportWithID for a body in the given format
// (FormatGzip or FormatZstd).
func (c *Client) ImportWithIDFormat(ctx context.Context, db, table, uniqueID, format string, body []byte) (*ImportResult, error) {
	p := fmt.Sprintf("/v3/table/import_with_id/%s/%s/%s/%s",
		url.PathEscape(db), url.PathEscape(table), url.PathEscape(uniqueID), format)
	var res ImportResult
	status, attempts, err := c.do(ctx, http.MethodPut, p, body, &res)
	if err != nil {
		return nil, fmt.Errorf("import %s.%s unique_id %s (%s): %w", db, table, uniqueID, format, err)
	}
	res.StatusCode, res.Attempts = status, attempts
	return &res, nil
}

// CreateDatabase creates db; an existing database (409) is not an error.
func (c *Client) CreateDatabase(ctx context.Context, db string) error {
	_, _, err := c.do(ctx, http.MethodPost, "/v3/database/create/"+url.PathEscape(db), nil, nil)
	if err != nil && !isConflict(err) {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// CreateTable creates the log table db.table; an existing table (409) is not
// an error. A missing database is a 404 (IsNotFound); EnsureTable creates
// both.
func (c *Client) CreateTable(ctx context.Context, db, table string) error {
	p := fmt.Sprintf("/v3/table/create/%s/%s/log", url.PathEscape(db), url.PathEscape(table))
	_, _, err := c.do(ctx, http.MethodPost, p, nil, nil)
	if err != nil && !isConflict(err) {
		return fmt.Errorf("create table %s.%s: %w", db, table, err)
	}
	return nil
}

// EnsureTable creates the log table db.table, and db first when the table
// create answers 404, as Fluentd's tdlog output does on a 404 import with
// auto_create_table; existing ones are not errors.
func (c *Client) EnsureTable(ctx context.Context, db, table string) error {
	err := c.CreateTable(ctx, db, table)
	if IsNotFound(err) {
		if err = c.CreateDatabase(ctx, db); err == nil {
			err = c.CreateTable(ctx, db, table)
		}
	}
	return err
}

func isConflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusConflict
}

// do sends one request with retries and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) (status, attempts int, err error) {
	policy := c.Policy.withDefaults()
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	u := strings.TrimRight(c.Endpoint, "/") + path
	for attempts = 1; ; attempts++ {
		resp, rerr := c.send(ctx, hc, method, u, body)
		status = 0
		if resp != nil {
			status = resp.StatusCode
		}
		if rerr == nil && status >= 200 && status < 300 {
			defer resp.Body.Close()
			if out != nil {
				if derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); derr != nil && !errors.Is(derr, io.EOF) {
					return status, attempts, fmt.Errorf("decode answer of %s: %w", u, derr)
				}
			}
			return status, attempts, nil
		}
		var lastErr error
		if rerr != nil {
			lastErr = fmt.Errorf("%s %s: %w", method, u, rerr)
		} else {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			lastErr = &StatusError{StatusCode: status, Body: string(msg), URL: u}
		}
		if !Retryable(status, rerr) || attempts >= policy.MaxAttempts || ctx.Err() != nil {
			return status, attempts, lastErr
		}
		wait := policy.Backoff(attempts, resp)
		log.Warn("td import request failed, retrying", "url", u, "status", status, "attempt", attempts, "wait", wait.String(), "err", lastErr)
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return status, attempts, errors.Join(lastErr, serr)
		}
	}
}

func (c *Client) send(ctx context.Context, hc *http.Client, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "TD1 "+c.APIKey)
	req.Header.Set("Content-Type", "application/octet-stream")
	ua := c.UserAgent
	if ua == "" {
		ua = "spillway"
	}
	req.Header.Set("User-Agent", ua)
	return hc.Do(req)
}
