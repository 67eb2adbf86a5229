package lambdarun

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Lambda service limits mirrored by the runner.
const (
	// MaxSyncPayload is the largest request or response of a synchronous
	// invocation (6 MB).
	MaxSyncPayload = 6 * 1024 * 1024
	// MaxAsyncPayload is the largest event of an asynchronous invocation
	// (1 MB since 2025; it was 256 KB before).
	MaxAsyncPayload = 1024 * 1024
)

// Config configures one function. Fields left zero get the defaults from
// Defaults; call Validate (New does) before use.
type Config struct {
	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME, the ARN's last part).
	Name string
	// Binary is the path of the `bootstrap` executable (an aws-lambda-go
	// program built with -tags lambda.norpc). Its directory is LAMBDA_TASK_ROOT
	// and the working directory of the process.
	Binary string
	// Env is the function's configured environment (what Terraform set). The
	// runtime variables (AWS_LAMBDA_RUNTIME_API, AWS_REGION, ...) are added
	// and cannot be overridden. Credentials and AWS_ENDPOINT_URL must be here:
	// the host environment is not inherited unless InheritEnv is set.
	Env map[string]string
	// InheritEnv starts processes with the host environment under Env.
	// Real Lambda does not do this; it is off by default.
	InheritEnv bool
	// Timeout is the function timeout (default 3s, as Lambda's).
	Timeout time.Duration
	// InitTimeout bounds a cold start: process start to its first
	// /runtime/invocation/next (default 10s, as Lambda's init phase).
	InitTimeout time.Duration
	// MemoryMB is reported as AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	MemoryMB int
	// Concurrency is the number of execution environments: processes that
	// each run one invocation at a time (default 1). Invocations beyond it
	// wait for a free environment, or fail with ErrThrottled if Throttle is set.
	Concurrency int
	// Throttle makes Invoke fail at once with ErrThrottled when every
	// environment is busy, as Lambda does at its concurrency limit.
	Throttle bool
	// Region is AWS_REGION / AWS_DEFAULT_REGION (default us-east-1).
	Region string
	// AccountID is used in the invoked function ARN (default 000000000000).
	AccountID string
	// Version is AWS_LAMBDA_FUNCTION_VERSION (default $LATEST).
	Version string
	// AsyncRetries is how often an asynchronous invocation that failed is
	// retried (0-2, default 2, as Lambda's MaximumRetryAttempts). Set
	// NoAsyncRetries to use 0.
	AsyncRetries int
	// NoAsyncRetries disables retries of asynchronous invocations.
	NoAsyncRetries bool
	// AsyncRetryDelay is the wait before the first async retry, doubled for
	// the second (Lambda waits about 1 and 2 minutes; default 1s for local speed).
	AsyncRetryDelay time.Duration
	// Logs receives the processes' stdout and stderr (default os.Stderr).
	// Writes are serialised.
	Logs io.Writer
	// Logger receives the runner's own logs: cold starts, timeouts, crashes
	// (default slog.Default()).
	Logger *slog.Logger
}

// Defaults returns cfg with every zero field set to its default.
func Defaults(cfg Config) Config {
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 128
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Version == "" {
		cfg.Version = "$LATEST"
	}
	if cfg.AsyncRetries == 0 && !cfg.NoAsyncRetries {
		cfg.AsyncRetries = 2
	}
	if cfg.NoAsyncRetries {
		cfg.AsyncRetries = 0
	}
	if cfg.AsyncRetryDelay == 0 {
		cfg.AsyncRetryDelay = time.Second
	}
	if cfg.Logs == nil {
		cfg.Logs = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem in cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if cfg.Binary == "" {
		errs = append(errs, errors.New("binary: required"))
	} else if st, err := os.Stat(cfg.Binary); err != nil {
		errs = append(errs, fmt.Errorf("binary: %w", err))
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("binary: %s is not an executable file", cfg.Binary))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is negative", cfg.Timeout))
	}
	if cfg.InitTimeout < 0 {
		errs = append(errs, fmt.Errorf("init_timeout: %s is negative", cfg.InitTimeout))
	}
	if cfg.MemoryMB < 0 {
		errs = append(errs, fmt.Errorf("memory_mb: %d is negative", cfg.MemoryMB))
	}
	if cfg.Concurrency < 0 || cfg.Concurrency > 1000 {
		errs = append(errs, fmt.Errorf("concurrency: %d is outside 0..1000", cfg.Concurrency))
	}
	if cfg.AsyncRetries < 0 || cfg.AsyncRetries > 2 {
		errs = append(errs, fmt.Errorf("async_retries: %d is outside 0..2", cfg.AsyncRetries))
	}
	if cfg.AsyncRetryDelay < 0 {
		errs = append(errs, fmt.Errorf("async_retry_delay: %s is negative", cfg.AsyncRetryDelay))
	}
	return errors.Join(errs...)
}

// FromFunctionConfiguration copies what Lambda reports for a deployed
// function (GetFunctionConfiguration through the edge: name, timeout,
// memory, environment) into a Config for binary. Add the local-only
// variables (AWS_ENDPOINT_URL, credentials) to Env before New.
func FromFunctionConfiguration(fc *lambda.GetFunctionConfigurationOutput, binary string) Config {
	cfg := Config{
		Name:     aws.ToString(fc.FunctionName),
		Binary:   binary,
		Timeout:  time.Duration(aws.ToInt32(fc.Timeout)) * time.Second,
		MemoryMB: int(aws.ToInt32(fc.MemorySize)),
		Version:  aws.ToString(fc.Version),
		Env:      map[string]string{},
	}
	if fc.Environment != nil {
		maps.Copy(cfg.Env, fc.Environment.Variables)
	}
	return cfg
}
