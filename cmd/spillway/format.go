//go:build cgo

package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// resultWriter writes a query result in one format.
type resultWriter func(out io.Writer, rows *sql.Rows) error

// writers are the --format choices.
var writers = map[string]resultWriter{"table": writeTable, "csv": writeCSV, "json": writeJSON}

// scan reads every row as values (nil for NULL).
func scan(rows *sql.Rows, each func(cols []string, vals []any) error) error {
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("result columns: %w", err)
	}
	if err := each(cols, nil); err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read row: %w", err)
		}
		if err := each(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	return nil
}

// text renders a value for table and CSV output: times in RFC 3339 (UTC),
// binary as text when UTF-8 else base64, NULL as null.
func text(v any, null string) string {
	switch x := v.(type) {
	case nil:
		return null
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return fmt.Sprint(v)
}

// writeTable writes aligned columns under a header and a rule, then the
// row count.
func writeTable(out io.Writer, rows *sql.Rows) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	n := 0
	err := scan(rows, func(cols []string, vals []any) error {
		if vals == nil {
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
			rule := make([]string, len(cols))
			for i, c := range cols {
				rule[i] = strings.Repeat("-", max(len(c), 3))
			}
			fmt.Fprintln(tw, strings.Join(rule, "\t"))
			return nil
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(text(v, "NULL"))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	_, err = fmt.Fprintf(out, "(%d rows)\n", n)
	return err
}

// writeCSV writes RFC 4180 CSV with a header row; NULL is empty.
func writeCSV(out io.Writer, rows *sql.Rows) error {
	cw := csv.NewWriter(out)
	err := scan(rows, func(cols []string, vals []any) error {
		if vals == nil {
			return cw.Write(cols)
		}
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = text(v, "")
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// writeJSON writes a JSON array of objects whose keys keep the column
// order; times are RFC 3339 strings, binary base64.
func writeJSON(out io.Writer, rows *sql.Rows) error {
	var buf bytes.Buffer
	buf.WriteString("[")
	first := true
	err := scan(rows, func(cols []string, vals []any) error {
		if vals == nil {
			return nil
		}
		if !first {
			buf.WriteString(",")
		}
		first = false
		buf.WriteString("\n  {")
		for i, v := range vals {
			if i > 0 {
				buf.WriteString(", ")
			}
			k, _ := json.Marshal(cols[i])
			buf.Write(k)
			buf.WriteString(": ")
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339Nano)
			}
			b, err := json.Marshal(v)
			if err != nil {
				b, _ = json.Marshal(fmt.Sprint(v))
			}
			buf.Write(b)
		}
		buf.WriteString("}")
		return nil
	})
	if err != nil {
		return err
	}
	if !first {
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	_, err = out.Write(buf.Bytes())
	return err
}
