// Command fn is a test Lambda function for lambdarun. The payload picks
// what it does: {"op":"echo"|"error"|"sleep"|"exit"|"panic"|"env"|"ctx", ...}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
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
	case "big":
		return strings.Repeat("x", req.Code), nil
	}
	return nil, errors.New("unknown op " + req.Op)
}

func main() {
	if os.Getenv("FN_EXIT_AT_INIT") != "" {
		os.Exit(3)
	}
	lambda.Start(handle)
}
