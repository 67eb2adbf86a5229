package lambdarun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// fnBinary is the test function, built once by TestMain.
var fnBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarun-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnBinary = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", fnBinary, "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test function: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// newRunner starts a runner for the test function, closed at cleanup.
func newRunner(tb testing.TB, mod func(*Config)) *Runner {
	tb.Helper()
	cfg := Config{
		Name:    "test-fn",
		Binary:  fnBinary,
		Env:     map[string]string{"CUSTOM_VAR": "custom"},
		Timeout: 2 * time.Second,
		Logs:    io.Discard,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

func payload(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// lineSignal is a Logs writer that sends on lines each time the function
// prints a line containing marker, so tests wait for "the handler is
// running" without polling.
type lineSignal struct {
	marker string
	lines  chan struct{}
}

func newLineSignal(marker string) *lineSignal {
	return &lineSignal{marker: marker, lines: make(chan struct{}, 100)}
}

func (l *lineSignal) Write(p []byte) (int, error) {
	for range strings.Count(string(p), l.marker) {
		l.lines <- struct{}{}
	}
	return len(p), nil
}

// wait blocks until n more marker lines have been written.
func (l *lineSignal) wait(tb testing.TB, n int) {
	tb.Helper()
	timeout := time.After(20 * time.Second)
	for range n {
		select {
		case <-l.lines:
		case <-timeout:
			tb.Fatalf("timed out waiting for %q from the function", l.marker)
		}
	}
}

func TestInvokeOutcomes(t *testing.T) {
	r := newRunner(t, func(c *Config) { c.Timeout = 700 * time.Millisecond })
	tests := []struct {
		name      string
		req       map[string]any
		want      string
		wantType  string
		wantMsg   string
		wantCause error
	}{
		{name: "echo", req: map[string]any{"op": "echo", "data": map[string]any{"a": 1}}, want: `{"a":1}`},
		{name: "function error", req: map[string]any{"op": "error", "msg": "boom"}, wantType: "customError", wantMsg: "boom"},
		{name: "errors.New", req: map[string]any{"op": "plainerror", "msg": "bad"}, wantType: "errorString", wantMsg: "bad"},
		{name: "panic", req: map[string]any{"op": "panic", "msg": "oops"}, wantType: "string", wantMsg: "oops"},
		{name: "after panic restarts", req: map[string]any{"op": "echo", "data": 2}, want: `2`},
		{name: "exit", req: map[string]any{"op": "exit", "code": 7}, wantType: "Runtime.ExitError", wantMsg: "exit status 7", wantCause: ErrExited},
		{name: "after exit restarts", req: map[string]any{"op": "echo", "data": "x"}, want: `"x"`},
		{name: "timeout", req: map[string]any{"op": "sleep", "ms": 60000}, wantType: "Sandbox.Timedout", wantMsg: "Task timed out after 0.70 seconds", wantCause: ErrTimeout},
		{name: "after timeout restarts", req: map[string]any{"op": "echo", "data": true}, want: `true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.Invoke(ctxT(t), payload(t, tt.req))
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				if string(out) != tt.want {
					t.Fatalf("response %s, want %s", out, tt.want)
				}
				return
			}
			var fe *FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want *FunctionError", err, err)
			}
			if fe.Type != tt.wantType || !strings.Contains(fe.Message, tt.wantMsg) {
				t.Fatalf("got %q %q, want %q containing %q", fe.Type, fe.Message, tt.wantType, tt.wantMsg)
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Fatalf("error %v does not wrap %v", err, tt.wantCause)
			}
			var doc struct{ ErrorType, ErrorMessage string }
			if err := json.Unmarshal(fe.Payload, &doc); err != nil || doc.ErrorType != tt.wantType {
				t.Fatalf("payload %s: %v", fe.Payload, err)
			}
		})
	}
	st := r.Stats()
	if st.ColdStarts != 4 || st.Timeouts != 1 || st.Exits != 1 || st.Errors != 5 || st.Invocations != int64(len(tests)) {
		t.Fatalf("stats %+v", st)
	}
	if st.ColdStartTotal <= 0 || st.LastColdStart <= 0 {
		t.Fatalf("cold start not measured: %+v", st)
	}
}

func TestInvokeContextAndEnv(t *testing.T) {
	t.Setenv("HOST_ONLY_VAR", "host")
	r := newRunner(t, func(c *Config) { c.Name = "ctx-fn"; c.MemoryMB = 512 })
	before := time.Now()
	out, err := r.Invoke(ctxT(t), []byte(`{"op":"ctx"}`))
	if err != nil {
		t.Fatal(err)
	}
	var info ctxInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.RequestID) != 36 || info.FunctionARN != "arn:aws:lambda:us-east-1:000000000000:function:ctx-fn" ||
		!strings.HasPrefix(info.TraceID, "Root=1-") {
		t.Fatalf("context %+v", info)
	}
	dl := time.UnixMilli(info.DeadlineMS)
	if dl.Before(before.Add(time.Second)) || dl.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("deadline %v not about 2s after %v", dl, before)
	}

	out, err = r.Invoke(ctxT(t), []byte(`{"op":"env"}`))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "ctx-fn",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_REGION":                      "us-east-1",
		"_HANDLER":                        "bootstrap",
		"CUSTOM_VAR":                      "custom",
		"LAMBDA_TASK_ROOT":                filepath.Dir(fnBinary),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q", env["AWS_LAMBDA_RUNTIME_API"])
	}
	if _, ok := env["HOST_ONLY_VAR"]; ok {
		t.Errorf("host environment leaked into the function")
	}
}

// nopType is the json shape of ctxInfo in testdata/fn.
type ctxInfo struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineMS  int64  `json:"deadline_ms"`
	TraceID     string `json:"trace_id"`
}

func TestInvokeLambda(t *testing.T) {
	r := newRunner(t, nil)
	tests := []struct {
		name, body, want, wantFE string
	}{
		{name: "success", body: `{"op":"echo","data":[1]}`, want: `[1]`},
		{name: "function error", body: `{"op":"error","msg":"m"}`, want: `{"errorMessage":"m","errorType":"customError"}`, wantFE: "Unhandled"},
		{name: "crash", body: `{"op":"exit","code":2}`, wantFE: "Unhandled", want: `"errorType":"Runtime.ExitError"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, fe, err := r.InvokeLambda(ctxT(t), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if fe != tt.wantFE || !strings.Contains(string(out), tt.want) {
				t.Fatalf("got %s %q, want %s %q", out, fe, tt.want, tt.wantFE)
			}
		})
	}
	if _, _, err := r.InvokeLambda(ctxT(t), make([]byte, MaxSyncPayload+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("too large: %v", err)
	}
}

func TestInitFailure(t *testing.T) {
	r := newRunner(t, func(c *Config) { c.Env = map[string]string{"FN_EXIT_AT_INIT": "1"} })
	_, err := r.Invoke(ctxT(t), []byte(`{"op":"echo"}`))
	var fe *FunctionError
	if !errors.As(err, &fe) || !errors.Is(err, ErrExited) || !strings.Contains(fe.Message, "exit status 3") {
		t.Fatalf("error %v, want runtime exit with status 3", err)
	}
}

func TestConcurrencyAndThrottle(t *testing.T) {
	t.Run("two environments run in parallel", func(t *testing.T) {
		sig := newLineSignal("sleeping")
		r := newRunner(t, func(c *Config) { c.Concurrency = 2; c.Throttle = true; c.Timeout = 20 * time.Second; c.Logs = sig })
		if err := r.Warm(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// Two invocations run at once, each in its own process; a third
		// while both sleep is throttled.
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.Invoke(ctxT(t), []byte(`{"op":"sleep","ms":1500}`))
				errs <- err
			}()
		}
		sig.wait(t, 2) // both handlers are running
		if _, err := r.Invoke(ctxT(t), []byte(`{"op":"echo"}`)); !errors.Is(err, ErrThrottled) {
			t.Errorf("third invocation: %v, want ErrThrottled", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if st := r.Stats(); st.ColdStarts != 2 {
			t.Fatalf("cold starts %d, want 2", st.ColdStarts)
		}
	})
	t.Run("throttle when busy", func(t *testing.T) {
		sig := newLineSignal("sleeping")
		r := newRunner(t, func(c *Config) { c.Throttle = true; c.Timeout = 20 * time.Second; c.Logs = sig })
		done := make(chan error, 1)
		go func() {
			_, err := r.Invoke(ctxT(t), []byte(`{"op":"sleep","ms":300}`))
			done <- err
		}()
		sig.wait(t, 1)
		if _, err := r.Invoke(ctxT(t), []byte(`{"op":"echo"}`)); !errors.Is(err, ErrThrottled) {
			t.Fatalf("error %v, want ErrThrottled", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestCallerCancelLetsInvocationFinish(t *testing.T) {
	sig := newLineSignal("sleeping")
	r := newRunner(t, func(c *Config) { c.Timeout = 20 * time.Second; c.Logs = sig })
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := r.Invoke(ctx, []byte(`{"op":"sleep","ms":300}`))
		done <- err
	}()
	sig.wait(t, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	out, err := r.Invoke(ctxT(t), []byte(`{"op":"echo","data":1}`))
	if err != nil || string(out) != "1" {
		t.Fatalf("next invoke: %s %v", out, err)
	}
	if st := r.Stats(); st.ColdStarts != 1 || st.Errors != 0 {
		t.Fatalf("stats %+v: the cancelled invocation should have completed in its environment", st)
	}
}

func TestInvokeAsync(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		noRetries   bool
		wantInvokes int64
		wantFailed  int64
	}{
		{name: "success", body: `{"op":"echo"}`, wantInvokes: 1},
		{name: "error retried twice", body: `{"op":"error","msg":"x"}`, wantInvokes: 3, wantFailed: 1},
		{name: "error without retries", body: `{"op":"error","msg":"x"}`, noRetries: true, wantInvokes: 1, wantFailed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, func(c *Config) { c.AsyncRetryDelay = time.Millisecond; c.NoAsyncRetries = tt.noRetries })
			if err := r.InvokeAsync([]byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			if err := r.WaitAsync(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if st := r.Stats(); st.Invocations != tt.wantInvokes || st.AsyncFailed != tt.wantFailed || st.AsyncQueued != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestLimitsAndClose(t *testing.T) {
	r := newRunner(t, func(c *Config) { c.Timeout = 20 * time.Second })
	big := bytes.Repeat([]byte("x"), MaxSyncPayload+1)
	if _, err := r.Invoke(ctxT(t), big); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("sync: %v", err)
	}
	if err := r.InvokeAsync(big[:MaxAsyncPayload+1]); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("async: %v", err)
	}
	_, err := r.Invoke(ctxT(t), payload(t, map[string]any{"op": "big", "code": MaxSyncPayload + 10}))
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Type != "Function.ResponseSizeTooLarge" {
		t.Fatalf("big response: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invoke(ctxT(t), []byte(`{"op":"echo"}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := r.InvokeAsync([]byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("async after close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "ok", cfg: Config{Name: "f", Binary: fnBinary}},
		{name: "empty", cfg: Config{}, want: []string{"name: required", "binary: required"}},
		{name: "bad values", cfg: Config{Name: "f", Binary: filepath.Dir(fnBinary), Concurrency: -1, AsyncRetries: 5, Timeout: -1},
			want: []string{"binary:", "concurrency:", "async_retries:", "timeout:"}},
		{name: "missing binary", cfg: Config{Name: "f", Binary: filepath.Join(t.TempDir(), "nope")}, want: []string{"binary:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Defaults(tt.cfg).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestFromFunctionConfiguration(t *testing.T) {
	fc := &lambda.GetFunctionConfigurationOutput{
		FunctionName: aws.String("sp-ingest"), Timeout: aws.Int32(30), MemorySize: aws.Int32(256), Version: aws.String("$LATEST"),
		Environment: &lambdatypes.EnvironmentResponse{Variables: map[string]string{"SPILLWAY_STREAM_NAME": "sp-events"}},
	}
	cfg := FromFunctionConfiguration(fc, fnBinary)
	if cfg.Name != "sp-ingest" || cfg.Timeout != 30*time.Second || cfg.MemoryMB != 256 || cfg.Env["SPILLWAY_STREAM_NAME"] != "sp-events" || cfg.Binary != fnBinary {
		t.Fatalf("config %+v", cfg)
	}
	if err := Defaults(cfg).Validate(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkInvokeWarm(b *testing.B) {
	r := newRunner(b, nil)
	ctx := ctxT(b)
	body := []byte(`{"op":"echo","data":{"k":"v"}}`)
	if _, err := r.Invoke(ctx, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Invoke(ctx, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdStart(b *testing.B) {
	ctx := ctxT(b)
	body := []byte(`{"op":"echo","data":1}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var total time.Duration
	var n int64
	for b.Loop() {
		r := newRunner(b, nil)
		if _, err := r.Invoke(ctx, body); err != nil {
			b.Fatal(err)
		}
		st := r.Stats()
		total += st.ColdStartTotal
		n += st.ColdStarts
		_ = r.Close()
	}
	if n > 0 {
		b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "init-ms/op")
	}
}
