package tdtest

import (
	"context"
	"fmt"
	"maps"
	"sort"
)

// Stats is what a Server received, over every table.
type Stats struct {
	// Records is the number of records stored (duplicates by unique_id are
	// not stored).
	Records int
	// Imports is the number of stored import requests.
	Imports int
	// Duplicates is the number of import_with_id requests answered without
	// storing because their unique_id was already stored.
	Duplicates int
	// Bytes is the compressed size of the stored import bodies.
	Bytes int64
	// Requests is the number of HTTP requests served, whatever their answer.
	Requests int
	// Formats is the number of import requests per format (the last path
	// segment) that passed the API key check, whatever their answer.
	Formats map[string]int
}

// Stats returns the totals over every table.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Duplicates: s.duplicate, Requests: s.requests, Formats: maps.Clone(s.formats)}
	for _, d := range s.dbs {
		for _, t := range d.tables {
			st.Records += t.count
			st.Imports += t.imports
			st.Bytes += t.bytes
		}
	}
	return st
}

// AllRecords returns a copy of the records stored in every table, sorted
// by database and table, each table's in arrival order (none with
// Config.CountOnly).
func (s *Server) AllRecords() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, dn := range sortedKeys(s.dbs) {
		d := s.dbs[dn]
		for _, tn := range sortedKeys(d.tables) {
			out = append(out, d.tables[tn].records...)
		}
	}
	return out
}

// TableStat summarises one table the receiver holds.
type TableStat struct {
	Database, Table string
	// Records is the number of records stored (duplicates by unique_id are
	// not stored).
	Records int
	// Imports is the number of stored import requests.
	Imports int
}

// Tables lists every table with its counts, sorted by database and table.
func (s *Server) Tables() []TableStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TableStat
	for _, dn := range sortedKeys(s.dbs) {
		d := s.dbs[dn]
		for _, tn := range sortedKeys(d.tables) {
			t := d.tables[tn]
			out = append(out, TableStat{Database: dn, Table: tn, Records: t.count, Imports: t.imports})
		}
	}
	return out
}

// Count is the number of records stored for db.table (0 when unknown).
func (s *Server) Count(db, tbl string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		return d.tables[tbl].count
	}
	return 0
}

// Records returns a copy of the records stored for db.table, in arrival
// order (none with Config.CountOnly).
func (s *Server) Records(db, tbl string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		return append([]Record(nil), d.tables[tbl].records...)
	}
	return nil
}

// Hashes returns the sorted HashRecord values of the records of db.table
// (none with Config.CountOnly).
func (s *Server) Hashes(db, tbl string) []string {
	s.mu.Lock()
	var out []string
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		out = append(out, d.tables[tbl].hashes...)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// Duplicates is the number of import_with_id requests answered without
// storing because their unique_id was already stored.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicate
}

// WaitCount waits until db.table holds at least n records or ctx ends.
func (s *Server) WaitCount(ctx context.Context, db, tbl string, n int) error {
	for {
		s.mu.Lock()
		got := 0
		if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
			got = d.tables[tbl].count
		}
		ch := s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for %d records in %s.%s (have %d): %w", n, db, tbl, got, ctx.Err())
		}
	}
}
