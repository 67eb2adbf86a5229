package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// monitorHandler serves Fluentd's /api/plugins.json shape and Prometheus
// text at /metrics.
func (a *Agent) monitorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/plugins.json", a.pluginsJSON)
	mux.HandleFunc("GET /metrics", a.metrics)
	return mux
}

// plugin is one entry of Fluentd's monitor_agent answer.
type plugin struct {
	PluginID              string         `json:"plugin_id"`
	PluginCategory        string         `json:"plugin_category"`
	Type                  string         `json:"type"`
	Config                map[string]any `json:"config"`
	OutputPlugin          bool           `json:"output_plugin"`
	BufferQueueLength     *int           `json:"buffer_queue_length,omitempty"`
	BufferTotalQueuedSize *int64         `json:"buffer_total_queued_size,omitempty"`
	BufferStageLength     *int           `json:"buffer_stage_length,omitempty"`
	RetryCount            *uint64        `json:"retry_count,omitempty"`
	EmitRecords           *uint64        `json:"emit_records,omitempty"`
	EmitCount             *uint64        `json:"emit_count,omitempty"`
	WriteCount            *uint64        `json:"write_count,omitempty"`
	LastSuccess           *int64         `json:"last_success_unix,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (a *Agent) pluginsJSON(w http.ResponseWriter, _ *http.Request) {
	var ps []plugin
	for i, t := range a.tails {
		s := t.Stats()
		c := a.cfg.Sources.Tail[i]
		ps = append(ps, plugin{PluginID: "tail_" + c.Name, PluginCategory: "input", Type: "tail",
			Config:      map[string]any{"path": strings.Join(c.Paths, ","), "tag": c.Tag, "pos_file": c.PosFile},
			EmitRecords: ptr(s.Lines)})
	}
	if a.httpSrv != nil {
		s := a.httpSrv.Stats()
		ps = append(ps, plugin{PluginID: "http", PluginCategory: "input", Type: "http",
			Config: map[string]any{"bind": a.httpLn.Addr().String()}, EmitRecords: ptr(s.Records), EmitCount: ptr(s.Requests)})
	}
	if a.fwdSrv != nil {
		s := a.fwdSrv.Stats()
		ps = append(ps, plugin{PluginID: "forward", PluginCategory: "input", Type: "forward",
			Config: map[string]any{"bind": a.fwdLn.Addr().String()}, EmitRecords: ptr(s.Records), EmitCount: ptr(s.Messages)})
	}
	bs, os := a.buf.Stats(), a.out.Stats()
	p := plugin{PluginID: "tdlog", PluginCategory: "output", Type: "tdlog", OutputPlugin: true,
		Config:            map[string]any{"endpoint": a.cfg.Output.Primary.URL, "buffer_path": a.cfg.Buffer.Dir},
		BufferQueueLength: ptr(bs.SealedChunks), BufferTotalQueuedSize: ptr(bs.Bytes), BufferStageLength: ptr(bs.OpenChunks),
		RetryCount: ptr(os.Failures), EmitRecords: ptr(os.Records), WriteCount: ptr(os.Chunks)}
	if !os.LastSuccess.IsZero() {
		p.LastSuccess = ptr(os.LastSuccess.Unix())
	}
	ps = append(ps, p)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"plugins": ps})
}

func (a *Agent) metrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	metric := func(name, help, typ string, samples ...string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, s := range samples {
			b.WriteString(name + s + "\n")
		}
	}
	q := strconv.Quote
	var lines, bytes, perr, trunc, lost, fl, unr []string
	for i, t := range a.tails {
		s := t.Stats()
		l := "{source=" + q(a.cfg.Sources.Tail[i].Name) + "} "
		lines = append(lines, l+strconv.FormatUint(s.Lines, 10))
		bytes = append(bytes, l+strconv.FormatUint(s.Bytes, 10))
		perr = append(perr, l+strconv.FormatUint(s.ParseErrors, 10))
		trunc = append(trunc, l+strconv.FormatUint(s.TruncatedLines, 10))
		lost = append(lost, l+strconv.FormatUint(s.LostBytes, 10))
		unr = append(unr, l+strconv.FormatUint(s.UnroutableFiles, 10))
		for _, f := range t.Files() {
			fl = append(fl, "{source="+q(a.cfg.Sources.Tail[i].Name)+",path="+q(f.Path)+"} "+strconv.FormatInt(max(f.Size-f.Offset, 0), 10))
		}
	}
	metric("spillway_forwarder_tail_lines_total", "Lines read by tail sources.", "counter", lines...)
	metric("spillway_forwarder_tail_bytes_total", "Bytes read by tail sources.", "counter", bytes...)
	metric("spillway_forwarder_tail_parse_errors_total", "Lines kept unparsed.", "counter", perr...)
	metric("spillway_forwarder_tail_truncated_lines_total", "Lines cut at max_line_size.", "counter", trunc...)
	metric("spillway_forwarder_tail_lost_bytes_total", "Bytes made unreadable by truncation.", "counter", lost...)
	metric("spillway_forwarder_tail_file_lag_bytes", "File size minus position.", "gauge", fl...)
	metric("spillway_forwarder_tail_unroutable_files", "Files not followed because no route accepts their tag.", "gauge", unr...)
	bs, os := a.buf.Stats(), a.out.Stats()
	n := func(v uint64) string { return " " + strconv.FormatUint(v, 10) }
	if a.httpSrv != nil {
		metric("spillway_forwarder_http_unroutable_requests_total", "Requests refused (400) by the http source because no route accepts their tag.", "counter", n(a.httpSrv.Stats().Unroutable))
	}
	if a.fwdSrv != nil {
		metric("spillway_forwarder_forward_unroutable_records_total", "Records refused (not acked) by the forward source because no route accepts their tag.", "counter", n(a.fwdSrv.Stats().Unroutable))
	}
	metric("spillway_forwarder_route_default_table_records_total", "Records no route accepted, stored in default_table.", "counter", n(a.in.Stats().Defaulted))
	metric("spillway_forwarder_filter_dropped_records_total", "Records dropped by grep filters.", "counter", n(a.filters.Stats().Dropped))
	metric("spillway_forwarder_buffer_bytes", "Bytes in the disk buffer.", "gauge", " "+strconv.FormatInt(bs.Bytes, 10))
	metric("spillway_forwarder_buffer_chunks", "Chunks in the disk buffer.", "gauge", `{state="open"} `+strconv.Itoa(bs.OpenChunks), `{state="sealed"} `+strconv.Itoa(bs.SealedChunks))
	metric("spillway_forwarder_buffer_appended_records_total", "Records stored in the disk buffer.", "counter", n(bs.AppendedRecs))
	metric("spillway_forwarder_buffer_full_total", "Appends refused by a full buffer.", "counter", n(bs.FullRejections))
	metric("spillway_forwarder_buffer_dropped_records_total", "Records dropped by drop_oldest.", "counter", n(bs.DroppedRecords))
	metric("spillway_forwarder_buffer_torn_bytes_total", "Bytes cut from torn chunk tails at recovery.", "counter", n(bs.TornBytes))
	metric("spillway_forwarder_output_chunks_total", "Chunks shipped.", "counter", n(os.Chunks))
	metric("spillway_forwarder_output_records_total", "Records shipped.", "counter", n(os.Records))
	metric("spillway_forwarder_output_retries_total", "Failed ship attempts (retried).", "counter", n(os.Failures))
	metric("spillway_forwarder_output_parked_total", "Chunks parked after a refusal of their content (400, 413, 415, 422).", "counter", n(os.Parked))
	metric("spillway_forwarder_output_refused_total", "Ship attempts refused for a reason that heals (retried; alarm on it): class auth = 401/403, not_found = 404.", "counter",
		`{class="auth"}`+n(os.AuthFailures), `{class="not_found"}`+n(os.NotFound))
	var last int64
	if !os.LastSuccess.IsZero() {
		last = os.LastSuccess.Unix()
	}
	metric("spillway_forwarder_output_last_success_timestamp_seconds", "Time of the last shipped chunk.", "gauge", " "+strconv.FormatInt(last, 10))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}
