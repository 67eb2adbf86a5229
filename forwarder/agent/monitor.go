package agent

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spillwayhq/spillway/forwarder/output"
)

// monitorHandler serves Fluentd's /api/plugins.json shape, Prometheus
// text at /metrics (client_golang: a collector reading the components'
// counters at scrape time) and /healthz.
func (a *Agent) monitorHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricsCollector{a})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/plugins.json", a.pluginsJSON)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", a.healthz)
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
	typ, conf := "tdlog", map[string]any{"endpoint": a.cfg.Output.Primary.URL, "buffer_path": a.cfg.Buffer.Dir}
	if f := a.cfg.Output.Forward; a.cfg.Output.Type == output.TypeForward && f != nil {
		var servers []string
		for _, s := range f.Servers {
			servers = append(servers, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
		}
		typ, conf = "forward", map[string]any{"servers": servers, "buffer_path": a.cfg.Buffer.Dir}
	}
	p := plugin{PluginID: typ, PluginCategory: "output", Type: typ, OutputPlugin: true,
		Config:            conf,
		BufferQueueLength: ptr(bs.SealedChunks), BufferTotalQueuedSize: ptr(bs.Bytes), BufferStageLength: ptr(bs.OpenChunks),
		RetryCount: ptr(os.Failures), EmitRecords: ptr(os.Records), WriteCount: ptr(os.Chunks)}
	if !os.LastSuccess.IsZero() {
		p.LastSuccess = ptr(os.LastSuccess.Unix())
	}
	ps = append(ps, p)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"plugins": ps})
}
