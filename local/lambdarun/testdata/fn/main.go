// Command fn is a test Lambda function for lambdarun. The payload picks
// what it does: {"op":"echo"|"error"|"sleep"|"burn"|"exit"|"panic"|"env"|"ctx", ...}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Op   string          `json:"op"`
	MS   int             `json:"ms"`
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

type ctxInfo struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineMS  int64  `json:"deadline_ms"`
	TraceID     string `json:"trace_id"`
}

type customError struct{ msg string }

func (e customError) Error() string { return e.msg }

func handle(ctx context.Context, req request) (any, error) {
	switch req.Op {
	case "echo":
		return req.Data, nil
	case "error":
		return nil, customError{req.Msg}
	case "plainerror":
		return nil, errors.New(req.Msg)
	case "sleep":
		fmt.Println("sleeping")
		time.Sleep(time.Duration(req.MS) * time.Millisecond)
		return "slept", nil
	case "exit":
		os.Exit(req.Code)
	case "panic":
		panic(req.Msg)
	case "env":
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		return env, nil
	case "ctx":
		lc, _ := lambdacontext.FromContext(ctx)
		dl, _ := ctx.Deadline()
		tr, _ := ctx.Value("x-amzn-trace-id").(string)
		return ctxInfo{RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, DeadlineMS: dl.UnixMilli(), TraceID: tr}, nil
	case "burn":
		return burn(time.Duration(req.MS) * time.Millisecond), nil
	case "big":
		return strings.Repeat("x", req.Code), nil
	}
	return nil, errors.New("unknown op " + req.Op)
}

// burn spins until this process has used d more CPU time and returns the
// CPU time it used in ms.
func burn(d time.Duration) float64 {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	x := 0
	for cpu()-start < d {
		for i := range 100000 {
			x += i
		}
	}
	_ = x
	return float64(cpu()-start) / float64(time.Millisecond)
}

func main() {
	if os.Getenv("FN_EXIT_AT_INIT") != "" {
		os.Exit(3)
	}
	lambda.Start(handle)
}
