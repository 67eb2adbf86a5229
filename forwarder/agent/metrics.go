package agent

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillwayhq/spillway/forwarder/internal/version"
)

// desc is one metric family of the forwarder's /metrics.
type desc struct {
	d   *prometheus.Desc
	typ prometheus.ValueType
}

func newDesc(name, help string, typ prometheus.ValueType, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), typ}
}

// The families, names and meanings fixed (dashboards and alerts use them).
var (
	mTailLines  = newDesc("spillway_forwarder_tail_lines_total", "Lines read by tail sources.", prometheus.CounterValue, "source")
	mTailBytes  = newDesc("spillway_forwarder_tail_bytes_total", "Bytes read by tail sources.", prometheus.CounterValue, "source")
	mTailPErr   = newDesc("spillway_forwarder_tail_parse_errors_total", "Lines kept unparsed.", prometheus.CounterValue, "source")
	mTailTrunc  = newDesc("spillway_forwarder_tail_truncated_lines_total", "Lines cut at max_line_size.", prometheus.CounterValue, "source")
	mTailLost   = newDesc("spillway_forwarder_tail_lost_bytes_total", "Bytes made unreadable by truncation.", prometheus.CounterValue, "source")
	mTailLag    = newDesc("spillway_forwarder_tail_file_lag_bytes", "File size minus position (a path that is not UTF-8 shows U+FFFD for each invalid byte).", prometheus.GaugeValue, "source", "path")
	mTailUnr    = newDesc("spillway_forwarder_tail_unroutable_files", "Files not followed because no route accepts their tag.", prometheus.GaugeValue, "source")
	mTailTakeOK = newDesc("spillway_forwarder_tail_takeover_resumed_files_total", "Files started at td-agent's position (takeover_pos_file).", prometheus.CounterValue, "source")
	mTailTakeNo = newDesc("spillway_forwarder_tail_takeover_mismatched_files_total", "Files named in td-agent's position file that changed since (read from their head).", prometheus.CounterValue, "source")
	mRouteDef   = newDesc("spillway_forwarder_route_default_table_records_total", "Records no route accepted, stored in default_table.", prometheus.CounterValue)
	mFilterDrop = newDesc("spillway_forwarder_filter_dropped_records_total", "Records dropped by grep filters.", prometheus.CounterValue)
	mHTTPUnr    = newDesc("spillway_forwarder_http_unroutable_requests_total", "Requests refused (400) by the http source because no route accepts their tag.", prometheus.CounterValue)
	mFwdUnr     = newDesc("spillway_forwarder_forward_unroutable_records_total", "Records refused (not acked) by the forward source because no route accepts their tag.", prometheus.CounterValue)
	mInAccepted = newDesc("spillway_forwarder_input_accepted_records_total", "Records an input (http, forward) stored in the buffer.", prometheus.CounterValue, "input")
	mInRefused  = newDesc("spillway_forwarder_input_refused_total", "Requests (http: answered 4xx, 500 or 503) or messages (forward: not acked, intake full or failing) refused for a reason other than the tag; the client resends or fixes them.", prometheus.CounterValue, "input")
	mInUnr      = newDesc("spillway_forwarder_input_unroutable_total", "Events refused because no route accepts their tag (http: requests, forward: records); never acked.", prometheus.CounterValue, "input")
	mBufBytes   = newDesc("spillway_forwarder_buffer_bytes", "Bytes in the disk buffer.", prometheus.GaugeValue)
	mBufChunks  = newDesc("spillway_forwarder_buffer_chunks", "Chunks in the disk buffer.", prometheus.GaugeValue, "state")
	mBufApp     = newDesc("spillway_forwarder_buffer_appended_records_total", "Records stored in the disk buffer.", prometheus.CounterValue)
	mBufFull    = newDesc("spillway_forwarder_buffer_full_total", "Appends refused by a full buffer.", prometheus.CounterValue)
	mBufDrop    = newDesc("spillway_forwarder_buffer_dropped_records_total", "Records dropped by drop_oldest.", prometheus.CounterValue)
	mBufTorn    = newDesc("spillway_forwarder_buffer_torn_bytes_total", "Bytes cut from torn chunk tails at recovery.", prometheus.CounterValue)
	mOutChunks  = newDesc("spillway_forwarder_output_chunks_total", "Chunks shipped.", prometheus.CounterValue)
	mOutRecs    = newDesc("spillway_forwarder_output_records_total", "Records shipped.", prometheus.CounterValue)
	mOutRetries = newDesc("spillway_forwarder_output_retries_total", "Failed ship attempts (retried).", prometheus.CounterValue)
	mOutParked  = newDesc("spillway_forwarder_output_parked_total", "Chunks parked after a refusal of their content (400, 413, 415, 422).", prometheus.CounterValue)
	mOutRefused = newDesc("spillway_forwarder_output_refused_total", "Ship attempts refused for a reason that heals (retried; alarm on it): class auth = 401/403, not_found = 404.", prometheus.CounterValue, "class")
	mOutLast    = newDesc("spillway_forwarder_output_last_success_timestamp_seconds", "Time of the last shipped chunk.", prometheus.GaugeValue)
	// The named outputs (outputs:), one series each by output name; the
	// families above are the default output's (output:), unlabelled.
	mNBufBytes   = newDesc("spillway_forwarder_named_buffer_bytes", "Bytes in a named output's disk buffer.", prometheus.GaugeValue, "output")
	mNBufChunks  = newDesc("spillway_forwarder_named_buffer_chunks", "Chunks in a named output's disk buffer.", prometheus.GaugeValue, "output", "state")
	mNBufApp     = newDesc("spillway_forwarder_named_buffer_appended_records_total", "Records stored in a named output's disk buffer.", prometheus.CounterValue, "output")
	mNBufFull    = newDesc("spillway_forwarder_named_buffer_full_total", "Appends refused by a named output's full buffer.", prometheus.CounterValue, "output")
	mNBufDrop    = newDesc("spillway_forwarder_named_buffer_dropped_records_total", "Records dropped by drop_oldest in a named output's buffer.", prometheus.CounterValue, "output")
	mNOutChunks  = newDesc("spillway_forwarder_named_output_chunks_total", "Chunks a named output shipped.", prometheus.CounterValue, "output")
	mNOutRecs    = newDesc("spillway_forwarder_named_output_records_total", "Records a named output shipped.", prometheus.CounterValue, "output")
	mNOutRetries = newDesc("spillway_forwarder_named_output_retries_total", "Failed ship attempts of a named output (retried).", prometheus.CounterValue, "output")
	mNOutParked  = newDesc("spillway_forwarder_named_output_parked_total", "Chunks a named output parked after a refusal of their content (400, 413, 415, 422).", prometheus.CounterValue, "output")
	mNOutRefused = newDesc("spillway_forwarder_named_output_refused_total", "Ship attempts of a named output refused for a reason that heals: class auth = 401/403, not_found = 404.", prometheus.CounterValue, "output", "class")
	mNOutLast    = newDesc("spillway_forwarder_named_output_last_success_timestamp_seconds", "Time of a named output's last shipped chunk.", prometheus.GaugeValue, "output")
	// Forward-protocol outputs (type forward), one series per server; the
	// output label is "default" for the output: section.
	mFwdUp      = newDesc("spillway_forwarder_forward_output_server_up", "1 when a forward server takes chunks (role active or standby), 0 while it is marked down.", prometheus.GaugeValue, "output", "server", "role")
	mFwdChunks  = newDesc("spillway_forwarder_forward_output_server_chunks_total", "Chunks a forward server acknowledged (or took, without require_ack_response).", prometheus.CounterValue, "output", "server")
	mFwdRecs    = newDesc("spillway_forwarder_forward_output_server_records_total", "Records a forward server acknowledged.", prometheus.CounterValue, "output", "server")
	mFwdBytes   = newDesc("spillway_forwarder_forward_output_server_bytes_total", "Message bytes a forward server acknowledged.", prometheus.CounterValue, "output", "server")
	mFwdFails   = newDesc("spillway_forwarder_forward_output_server_failures_total", "Failed sends to a forward server (connect, handshake, write, ack); the chunk is sent again.", prometheus.CounterValue, "output", "server")
	mFwdAckTO   = newDesc("spillway_forwarder_forward_output_server_ack_timeouts_total", "Sends whose ack did not come within ack_response_timeout (also failures).", prometheus.CounterValue, "output", "server")
	mFwdHBFails = newDesc("spillway_forwarder_forward_output_server_heartbeat_failures_total", "Heartbeats a forward server did not answer.", prometheus.CounterValue, "output", "server")
	mBuildInfo  = newDesc("spillway_forwarder_build_info", "Build of the running forwarder (value 1).", prometheus.GaugeValue, "version", "revision", "goversion")
)

// metricsCollector reads the components' counters at scrape time. It is an
// unchecked collector (Describe sends nothing): the set of tail files
// changes between scrapes.
type metricsCollector struct{ a *Agent }

// Describe implements prometheus.Collector.
func (metricsCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (m metricsCollector) Collect(ch chan<- prometheus.Metric) {
	a := m.a
	emit := func(d desc, v float64, labels ...string) {
		for i, l := range labels {
			labels[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
		ch <- prometheus.MustNewConstMetric(d.d, d.typ, v, labels...)
	}
	for i, t := range a.tails {
		s, name := t.Stats(), a.cfg.Sources.Tail[i].Name
		emit(mTailLines, float64(s.Lines), name)
		emit(mTailBytes, float64(s.Bytes), name)
		emit(mTailPErr, float64(s.ParseErrors), name)
		emit(mTailTrunc, float64(s.TruncatedLines), name)
		emit(mTailLost, float64(s.LostBytes), name)
		emit(mTailUnr, float64(s.UnroutableFiles), name)
		emit(mTailTakeOK, float64(s.TakeoverResumed), name)
		emit(mTailTakeNo, float64(s.TakeoverMismatched), name)
		for _, f := range t.Files() {
			emit(mTailLag, float64(max(f.Size-f.Offset, 0)), name, f.Path)
		}
	}
	if a.httpSrv != nil {
		s := a.httpSrv.Stats()
		emit(mHTTPUnr, float64(s.Unroutable))
		emit(mInAccepted, float64(s.Records), "http")
		emit(mInRefused, float64(s.Rejected-s.Unroutable+s.Full+s.Failed), "http")
		emit(mInUnr, float64(s.Unroutable), "http")
	}
	if a.fwdSrv != nil {
		s := a.fwdSrv.Stats()
		emit(mFwdUnr, float64(s.Unroutable))
		emit(mInAccepted, float64(s.Records), "forward")
		emit(mInRefused, float64(s.Refused), "forward")
		emit(mInUnr, float64(s.Unroutable), "forward")
	}
	emit(mRouteDef, float64(a.in.Stats().Defaulted))
	emit(mFilterDrop, float64(a.filters.Stats().Dropped))
	bs, os := a.buf.Stats(), a.out.Stats()
	emit(mBufBytes, float64(bs.Bytes))
	emit(mBufChunks, float64(bs.OpenChunks), "open")
	emit(mBufChunks, float64(bs.SealedChunks), "sealed")
	emit(mBufApp, float64(bs.AppendedRecs))
	emit(mBufFull, float64(bs.FullRejections))
	emit(mBufDrop, float64(bs.DroppedRecords))
	emit(mBufTorn, float64(bs.TornBytes))
	emit(mOutChunks, float64(os.Chunks))
	emit(mOutRecs, float64(os.Records))
	emit(mOutRetries, float64(os.Failures))
	emit(mOutParked, float64(os.Parked))
	emit(mOutRefused, float64(os.AuthFailures), "auth")
	emit(mOutRefused, float64(os.NotFound), "not_found")
	var last int64
	if !os.LastSuccess.IsZero() {
		last = os.LastSuccess.Unix()
	}
	emit(mOutLast, float64(last))
	for _, ob := range a.outbounds[1:] {
		bs, os := ob.buf.Stats(), ob.out.Stats()
		emit(mNBufBytes, float64(bs.Bytes), ob.name)
		emit(mNBufChunks, float64(bs.OpenChunks), ob.name, "open")
		emit(mNBufChunks, float64(bs.SealedChunks), ob.name, "sealed")
		emit(mNBufApp, float64(bs.AppendedRecs), ob.name)
		emit(mNBufFull, float64(bs.FullRejections), ob.name)
		emit(mNBufDrop, float64(bs.DroppedRecords), ob.name)
		emit(mNOutChunks, float64(os.Chunks), ob.name)
		emit(mNOutRecs, float64(os.Records), ob.name)
		emit(mNOutRetries, float64(os.Failures), ob.name)
		emit(mNOutParked, float64(os.Parked), ob.name)
		emit(mNOutRefused, float64(os.AuthFailures), ob.name, "auth")
		emit(mNOutRefused, float64(os.NotFound), ob.name, "not_found")
		var last int64
		if !os.LastSuccess.IsZero() {
			last = os.LastSuccess.Unix()
		}
		emit(mNOutLast, float64(last), ob.name)
	}
	for _, ob := range a.outbounds {
		f := ob.out.Forward()
		if f == nil {
			continue
		}
		for _, s := range f.Servers() {
			role, up := "active", 0.0
			if s.Standby {
				role = "standby"
			}
			if s.Available {
				up = 1
			}
			emit(mFwdUp, up, ob.name, s.Name, role)
			emit(mFwdChunks, float64(s.Chunks), ob.name, s.Name)
			emit(mFwdRecs, float64(s.Records), ob.name, s.Name)
			emit(mFwdBytes, float64(s.Bytes), ob.name, s.Name)
			emit(mFwdFails, float64(s.Failures), ob.name, s.Name)
			emit(mFwdAckTO, float64(s.AckTimeouts), ob.name, s.Name)
			emit(mFwdHBFails, float64(s.HeartbeatFailures), ob.name, s.Name)
		}
	}
	v := version.Get()
	emit(mBuildInfo, 1, v.Version, v.Revision, v.GoVersion)
}
