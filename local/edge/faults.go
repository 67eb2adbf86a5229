package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as a Go duration string ("250ms") in
// YAML and JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"250ms\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// FaultRule injects one kind of fault into the calls it matches. A rule fires
// on the next Next matching calls when Next > 0, otherwise with probability
// Rate per matching call. When it fires, Latency is added first; then the
// call is answered with Status and Code (when Status != 0), or, for Kinesis
// PutRecords with PartialFailure > 0, only part of the records are forwarded
// and the others are reported failed the way Kinesis does.
type FaultRule struct {
	// Service is the SigV4 service name (kinesis, dynamodb, s3, lambda, ...)
	// or "*" for every service.
	Service string `json:"service" yaml:"service"`
	// Operation is the API operation (PutRecords, PutItem, PutObject, ...);
	// empty or "*" matches every operation of the service.
	Operation string `json:"operation,omitempty" yaml:"operation,omitempty"`
	// Rate is the probability (0..1) that a matching call is faulted.
	Rate float64 `json:"rate,omitempty" yaml:"rate,omitempty"`
	// Next faults the next N matching calls, then the rule is spent.
	Next int `json:"next,omitempty" yaml:"next,omitempty"`
	// Status is the HTTP status of the injected error (e.g. 400, 500, 503).
	Status int `json:"status,omitempty" yaml:"status,omitempty"`
	// Code is the AWS error code (e.g. ProvisionedThroughputExceededException,
	// ThrottlingException, SlowDown, InternalFailure).
	Code string `json:"code,omitempty" yaml:"code,omitempty"`
	// Message is the error message; a default is derived from Code.
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	// Latency is added before the call is answered or forwarded.
	Latency Duration `json:"latency,omitempty" yaml:"latency,omitempty"`
	// PartialFailure is, for Kinesis PutRecords, the fraction (0..1] of the
	// records to fail with ProvisionedThroughputExceededException (at least
	// one record fails when the rule fires).
	PartialFailure float64 `json:"partial_failure,omitempty" yaml:"partial_failure,omitempty"`
}

// FaultConfig is the file and control-endpoint format of the fault rules.
type FaultConfig struct {
	// Seed seeds the random choices (rates, which records fail); 0 keeps the
	// current generator.
	Seed uint64 `json:"seed,omitempty" yaml:"seed,omitempty"`
	// Rules are tried in order; the first that fires applies.
	Rules []FaultRule `json:"rules" yaml:"rules"`
}

// Validate reports every problem with the rule.
func (f FaultRule) Validate() error {
	var errs []error
	if f.Service == "" {
		errs = append(errs, errors.New("service: required (use \"*\" for all)"))
	}
	if f.Rate < 0 || f.Rate > 1 || math.IsNaN(f.Rate) {
		errs = append(errs, fmt.Errorf("rate: %v not in [0,1]", f.Rate))
	}
	if f.Next < 0 {
		errs = append(errs, fmt.Errorf("next: %d is negative", f.Next))
	}
	if f.Next == 0 && f.Rate == 0 {
		errs = append(errs, errors.New("next or rate: one must be set"))
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("status: %d is not an HTTP error status", f.Status))
	}
	if f.Status != 0 && f.Code == "" {
		errs = append(errs, errors.New("code: required with status"))
	}
	if f.Code != "" && f.Status == 0 {
		errs = append(errs, errors.New("status: required with code"))
	}
	if f.Latency < 0 {
		errs = append(errs, errors.New("latency: negative"))
	}
	if f.PartialFailure < 0 || f.PartialFailure > 1 || math.IsNaN(f.PartialFailure) {
		errs = append(errs, fmt.Errorf("partial_failure: %v not in [0,1]", f.PartialFailure))
	}
	if f.PartialFailure > 0 {
		if !strings.EqualFold(f.Service, "kinesis") || f.Operation != "PutRecords" {
			errs = append(errs, errors.New("partial_failure: only for service kinesis, operation PutRecords"))
		}
		if f.Status != 0 {
			errs = append(errs, errors.New("partial_failure: cannot be combined with status"))
		}
	}
	if f.Status == 0 && f.Latency == 0 && f.PartialFailure == 0 {
		errs = append(errs, errors.New("rule does nothing: set status+code, latency or partial_failure"))
	}
	return errors.Join(errs...)
}

// Validate reports every problem in every rule, each prefixed with its index.
func (c FaultConfig) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// ParseFaults decodes a fault configuration from YAML or JSON (JSON is
// YAML). Unknown keys are errors.
func ParseFaults(b []byte) (FaultConfig, error) {
	var c FaultConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return FaultConfig{}, fmt.Errorf("decode faults: %w", err)
	}
	if err := c.Validate(); err != nil {
		return FaultConfig{}, fmt.Errorf("invalid faults: %w", err)
	}
	return c, nil
}

// LoadFaults reads a fault configuration file (YAML or JSON).
func LoadFaults(path string) (FaultConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return FaultConfig{}, fmt.Errorf("read faults file: %w", err)
	}
	c, err := ParseFaults(b)
	if err != nil {
		return FaultConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// injector holds the rules, their remaining Next budgets, the seeded
// generator and the counters.
type injector struct {
	mu       sync.Mutex
	rules    []FaultRule
	left     []int
	rng      *rand.Rand
	counters map[string]int64
}

func newInjector(seed uint64) *injector {
	return &injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), counters: map[string]int64{}}
}

func (in *injector) set(c FaultConfig) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if c.Seed != 0 {
		in.rng = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	}
	in.rules = append([]FaultRule(nil), c.Rules...)
	in.left = make([]int, len(c.Rules))
	for i, r := range c.Rules {
		in.left[i] = r.Next
	}
}

func (in *injector) snapshot() (FaultConfig, map[string]int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	rules := make([]FaultRule, len(in.rules))
	copy(rules, in.rules)
	for i := range rules {
		if rules[i].Next > 0 {
			rules[i].Next = in.left[i]
		}
	}
	counters := make(map[string]int64, len(in.counters))
	for k, v := range in.counters {
		counters[k] = v
	}
	return FaultConfig{Rules: rules}, counters
}

func (in *injector) resetCounters() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counters = map[string]int64{}
}

func (f FaultRule) matches(c Call) bool {
	if f.Service != "*" && !strings.EqualFold(f.Service, c.Service) {
		return false
	}
	return f.Operation == "" || f.Operation == "*" || f.Operation == c.Operation
}

// pick returns the rule that fires for the call, if any, and records it in
// the counters.
func (in *injector) pick(c Call) (FaultRule, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, r := range in.rules {
		if !r.matches(c) {
			continue
		}
		fire := false
		switch {
		case r.Next > 0:
			if in.left[i] > 0 {
				in.left[i]--
				fire = true
			}
		case r.Rate > 0:
			fire = in.rng.Float64() < r.Rate
		}
		if !fire {
			continue
		}
		kind := r.Code
		switch {
		case r.PartialFailure > 0:
			kind = "PartialFailure"
		case kind == "":
			kind = "Latency"
		}
		in.counters[counterKey(c, kind)]++
		return r, true
	}
	return FaultRule{}, false
}

// failIndexes picks k of n indexes with the seeded generator, sorted.
func (in *injector) failIndexes(n int, fraction float64) []int {
	k := int(math.Ceil(fraction * float64(n)))
	if k < 1 {
		k = 1
	}
	if k > n {
		k = n
	}
	in.mu.Lock()
	perm := in.rng.Perm(n)
	in.mu.Unlock()
	idx := perm[:k]
	sort.Ints(idx)
	return idx
}

func (in *injector) add(key string, n int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counters[key] += n
}

func counterKey(c Call, kind string) string {
	op := c.Operation
	if op == "" {
		op = "*"
	}
	return c.Service + "." + op + "." + kind
}
