// Package schedule is a local EventBridge scheduled rule: it parses
// rate(...) and cron(...) schedule expressions and invokes a function with
// the "Scheduled Event" EventBridge sends, on that schedule.
//
//	s, err := schedule.New(schedule.Config{
//		RuleName:   "spillway-flush",
//		Expression: "rate(5 minutes)",
//		Period:     2 * time.Second, // local speed: overrides the expression
//		Invoke:     func(ctx context.Context, p []byte) error { return flush.InvokeAsync(p) },
//	})
//	go s.Run(ctx)
//
// Tests inject Clock and drive time by hand; Fire sends one event at once.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// InvokeFunc delivers one scheduled event payload to the target. EventBridge
// invokes Lambda targets asynchronously, so this is typically an async invoke.
type InvokeFunc func(ctx context.Context, payload []byte) error

// Clock is the time source: Now, and a channel that fires once d has passed.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures one rule with one target. Zero fields get the defaults
// from Defaults.
type Config struct {
	// RuleName names the rule (resources[0] is its ARN). Required.
	RuleName string
	// Expression is the EventBridge schedule expression. Required.
	Expression string
	// Period, if set, replaces the expression's schedule with a fixed
	// period (for local speed); the expression must still parse.
	Period time.Duration
	// Invoke delivers the event. Required.
	Invoke InvokeFunc
	// Region and AccountID fill the event (default us-east-1, 000000000000).
	Region    string
	AccountID string
	// Clock is the time source (default the real clock).
	Clock Clock
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Defaults returns cfg with every zero field set to its default.
func Defaults(cfg Config) Config {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem in cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.RuleName == "" {
		errs = append(errs, errors.New("rule_name: required"))
	}
	if _, err := Parse(cfg.Expression); err != nil {
		errs = append(errs, fmt.Errorf("expression: %w", err))
	}
	if cfg.Period < 0 {
		errs = append(errs, fmt.Errorf("period: %s is negative", cfg.Period))
	}
	if cfg.Invoke == nil {
		errs = append(errs, errors.New("invoke: required"))
	}
	return errors.Join(errs...)
}

// Stats are counters since New.
type Stats struct {
	Fired    int64     // events delivered
	Errors   int64     // deliveries that failed
	LastFire time.Time // event time of the latest delivery
}

// Scheduler runs one rule.
type Scheduler struct {
	cfg  Config
	expr Expression
	log  *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// New validates cfg (after Defaults) and returns the Scheduler.
func New(cfg Config) (*Scheduler, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("schedule config: %w", err)
	}
	expr, _ := Parse(cfg.Expression)
	return &Scheduler{cfg: cfg, expr: expr, log: cfg.Logger.With("rule", cfg.RuleName)}, nil
}

// RuleARN is the rule's ARN, the event's only resource.
func (s *Scheduler) RuleARN() string {
	return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.cfg.Region, s.cfg.AccountID, s.cfg.RuleName)
}

// Next returns the firing time after t: t + Period if set, otherwise the
// expression's next time.
func (s *Scheduler) Next(t time.Time) time.Time {
	if s.cfg.Period > 0 {
		return t.Add(s.cfg.Period)
	}
	return s.expr.Next(t)
}

// Run fires on schedule until ctx ends, then returns nil. A failed
// delivery is logged and counted; the schedule goes on.
func (s *Scheduler) Run(ctx context.Context) error {
	next := s.Next(s.cfg.Clock.Now())
	for {
		if next.IsZero() {
			s.log.Info("schedule has no further firing times")
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(next.Sub(s.cfg.Clock.Now())):
		}
		if err := s.fire(ctx, next); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled invocation failed", "error", err.Error())
		}
		next = s.Next(next)
		if now := s.cfg.Clock.Now(); !next.After(now) {
			// Fell behind (slow target or suspended clock): skip missed
			// firings, as EventBridge does not backfill.
			next = s.Next(now)
		}
	}
}

// Fire delivers one scheduled event stamped with the current time.
func (s *Scheduler) Fire(ctx context.Context) error {
	return s.fire(ctx, s.cfg.Clock.Now())
}

func (s *Scheduler) fire(ctx context.Context, at time.Time) error {
	payload, err := s.Event(at)
	if err != nil {
		return err
	}
	err = s.cfg.Invoke(ctx, payload)
	s.mu.Lock()
	if err != nil {
		s.stats.Errors++
	} else {
		s.stats.Fired++
		s.stats.LastFire = at.UTC().Truncate(time.Second)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("invoke target of rule %s: %w", s.cfg.RuleName, err)
	}
	return nil
}

// Event returns the JSON EventBridge sends to a target of this rule for a
// firing at time at.
func (s *Scheduler) Event(at time.Time) ([]byte, error) {
	ev := events.EventBridgeEvent{
		Version:    "0",
		ID:         newUUID(),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  s.cfg.AccountID,
		Time:       at.UTC().Truncate(time.Second),
		Region:     s.cfg.Region,
		Resources:  []string{s.RuleARN()},
		Detail:     json.RawMessage(`{}`),
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode scheduled event: %w", err)
	}
	return b, nil
}

// Stats returns a snapshot of the counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
