package tdtest

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// notifyLocked wakes waiters; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) createDatabaseLocked(db string, now time.Time) *database {
	d := &database{name: db, createdAt: now, tables: map[string]*table{}}
	s.dbs[db] = d
	return d
}

func (s *Server) createTableLocked(d *database, tbl string, now time.Time) *table {
	t := &table{name: tbl, createdAt: now, updatedAt: now, ids: map[string]bool{}}
	d.tables[tbl] = t
	return t
}

func (s *Server) handleCreateDatabase(w http.ResponseWriter, r *http.Request) {
	db := r.PathValue("db")
	if !validNames(w, db, "") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dbs[db]; ok {
		tdError(w, http.StatusConflict, "Database "+db+" already exists", "Name has already been taken")
		return
	}
	s.createDatabaseLocked(db, s.cfg.Now())
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]string{"database": db})
}

func (s *Server) handleCreateTable(w http.ResponseWriter, r *http.Request) {
	db, tbl := r.PathValue("db"), r.PathValue("table")
	if typ := r.PathValue("type"); typ != "" && typ != "log" {
		tdError(w, http.StatusBadRequest, "Invalid table type", "only log tables are supported, got "+typ)
		return
	}
	if !validNames(w, db, tbl) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok {
		tdError(w, http.StatusNotFound, "Database not found", "Couldn't find UserDatabase with name = "+db)
		return
	}
	if _, ok := d.tables[tbl]; ok {
		tdError(w, http.StatusConflict, "Table "+tbl+" already exists", "Name has already been taken")
		return
	}
	s.createTableLocked(d, tbl, s.cfg.Now())
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]string{"database": db, "table": tbl, "type": "log"})
}

func tdTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(tdTimeLayout)
}

func (s *Server) tableDocLocked(t *table, id int) map[string]any {
	var last any
	if t.maxTime > 0 {
		last = tdTime(time.Unix(t.maxTime, 0))
	}
	return map[string]any{
		"id": id, "user_id": 1, "description": nil, "name": t.name, "type": "log",
		"count": t.count, "created_at": tdTime(t.createdAt), "updated_at": tdTime(t.updatedAt),
		"counter_updated_at": tdTime(t.lastImport), "last_log_timestamp": last,
		"delete_protected": false, "estimated_storage_size": t.bytes, "schema": "[]",
		"expire_days": nil, "primary_key": "time", "primary_key_type": "int", "include_v": true,
	}
}

func (s *Server) handleListTables(w http.ResponseWriter, r *http.Request) {
	db := r.PathValue("db")
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok {
		tdError(w, http.StatusNotFound, "Database not found", "Couldn't find UserDatabase with name = "+db)
		return
	}
	tables := make([]map[string]any, 0, len(d.tables))
	for i, name := range sortedKeys(d.tables) {
		tables = append(tables, s.tableDocLocked(d.tables[name], i+1))
	}
	writeJSON(w, http.StatusOK, map[string]any{"database": db, "tables": tables})
}

func (s *Server) handleShowTable(w http.ResponseWriter, r *http.Request) {
	db, tbl := r.PathValue("db"), r.PathValue("table")
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok || d.tables[tbl] == nil {
		tdError(w, http.StatusNotFound, "Table not found", "Couldn't find table "+db+"."+tbl)
		return
	}
	writeJSON(w, http.StatusOK, s.tableDocLocked(d.tables[tbl], 1))
}

func (s *Server) handleListDatabases(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.dbs))
	for i, name := range sortedKeys(s.dbs) {
		d := s.dbs[name]
		count := 0
		updated := d.createdAt
		for _, t := range d.tables {
			count += t.count
			if t.updatedAt.After(updated) {
				updated = t.updatedAt
			}
		}
		out = append(out, map[string]any{
			"id": strconv.Itoa(i + 1), "user_id": 1, "description": nil, "name": name, "organization": nil,
			"count": count, "created_at": tdTime(d.createdAt), "updated_at": tdTime(updated),
			"permission": "owner", "delete_protected": false,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"databases": out})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
