package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// Glue's optimistic concurrency, which moto lacks.
//
// AWS Glue's UpdateTable takes a VersionId, "the version ID at which to
// update the table contents", and fails with ConcurrentModificationException
// (HTTP 400, "two processes are trying to modify a resource
// simultaneously") when the table has moved on; version ids are the string
// form of an integer incremented by one per update
// (https://docs.aws.amazon.com/glue/latest/webapi/API_UpdateTable.html,
// https://docs.aws.amazon.com/glue/latest/webapi/API_TableVersionError.html).
// Iceberg catalogs (iceberg-go, Java, PyIceberg) commit through exactly this
// check. moto 5 ignores VersionId, so concurrent commits were silently lost.
// The edge therefore runs every UpdateTable under one lock, and one that
// carries a VersionId as check-then-update: it reads the table's current VersionId
// from moto (GetTable, with the caller's credentials so the account and
// region match) and answers ConcurrentModificationException on a mismatch;
// an UpdateTable without VersionId is unconditional, as on AWS.

// glueTables serialises UpdateTable calls.
type glueTables struct {
	mu sync.Mutex
}

// glueUpdateTable is the part of an UpdateTable request the check reads.
type glueUpdateTable struct {
	CatalogID    string `json:"CatalogId,omitempty"`
	DatabaseName string `json:"DatabaseName"`
	TableInput   struct {
		Name string `json:"Name"`
	} `json:"TableInput"`
	VersionID string `json:"VersionId"`
}

// isGlueUpdateTable reports whether the call is Glue's UpdateTable.
func isGlueUpdateTable(c Call) bool { return c.Service == "glue" && c.Operation == "UpdateTable" }

// serveGlueUpdateTable forwards an UpdateTable to the backend when its
// VersionId (if any) is the table's current one, else answers
// ConcurrentModificationException.
func (s *Server) serveGlueUpdateTable(w http.ResponseWriter, r *http.Request, c Call) {
	body, ok := bufferBody(w, r, c, "UpdateTable", "InvalidInputException")
	if !ok {
		return
	}
	// Every UpdateTable holds the lock, so an unconditional update cannot
	// slip between another call's check and its update.
	s.glue.mu.Lock()
	defer s.glue.mu.Unlock()
	var in glueUpdateTable
	if err := json.Unmarshal(body, &in); err != nil || in.VersionID == "" {
		s.proxyFor(c).ServeHTTP(w, r) // moto answers malformed input; no VersionId: unconditional
		return
	}
	current, err := s.glueTableVersion(r.Context(), r, c, in)
	if err != nil {
		s.log.Warn("glue version check skipped", "db", in.DatabaseName, "table", in.TableInput.Name, "err", err)
		s.proxyFor(c).ServeHTTP(w, r) // moto answers EntityNotFoundException and the like
		return
	}
	if current != in.VersionID {
		s.log.Info("glue concurrent modification", "db", in.DatabaseName, "table", in.TableInput.Name,
			"version_id", in.VersionID, "current", current)
		writeAWSError(w, r, c, http.StatusBadRequest, "ConcurrentModificationException",
			fmt.Sprintf("Update table failed due to concurrent modifications: version %s is not the current version %s of %s.%s",
				in.VersionID, current, in.DatabaseName, in.TableInput.Name))
		return
	}
	s.proxyFor(c).ServeHTTP(w, r)
}

// glueTableVersion asks the backend for the table's current VersionId,
// signed as the original request (moto reads account and region from it).
func (s *Server) glueTableVersion(ctx context.Context, orig *http.Request, c Call, in glueUpdateTable) (string, error) {
	q := map[string]string{"DatabaseName": in.DatabaseName, "Name": in.TableInput.Name}
	if in.CatalogID != "" {
		q["CatalogId"] = in.CatalogID
	}
	payload, _ := json.Marshal(q)
	status, raw, err := s.backendCall(ctx, orig, c, http.MethodPost, "/",
		map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSGlue.GetTable"}, payload)
	if err != nil {
		return "", fmt.Errorf("GetTable: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GetTable: HTTP %d: %.200s", status, raw)
	}
	var out struct {
		Table struct {
			VersionID string `json:"VersionId"`
		} `json:"Table"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("decode GetTable answer: %w", err)
	}
	if out.Table.VersionID == "" {
		return "", fmt.Errorf("GetTable answer has no VersionId")
	}
	return out.Table.VersionID, nil
}
