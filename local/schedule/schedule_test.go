package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// fakeClock is a Clock driven by Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{} // receives once per After call
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, added: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.added <- struct{}{}
	return ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitForTimer blocks until the code under test has called After.
func (c *fakeClock) waitForTimer(tb testing.TB) {
	tb.Helper()
	select {
	case <-c.added:
	case <-time.After(10 * time.Second):
		tb.Fatal("scheduler never waited on the clock")
	}
}

var start = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC) // a Sunday

func TestRunFiresOnSchedule(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		period time.Duration
		steps  []time.Duration // advance by each; every step fires once
	}{
		{name: "rate", expr: "rate(5 minutes)", steps: []time.Duration{5 * time.Minute, 5 * time.Minute}},
		{name: "period override", expr: "rate(1 day)", period: 2 * time.Second, steps: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{name: "cron every 15 minutes", expr: "cron(0/15 * * * ? *)", steps: []time.Duration{15 * time.Minute, 15 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(start)
			got := make(chan []byte, 10)
			s, err := New(Config{
				RuleName: "spillway-flush", Expression: tt.expr, Period: tt.period, Clock: clock,
				Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
				Invoke: func(_ context.Context, p []byte) error { got <- p; return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			})
			at := start
			for i, step := range tt.steps {
				clock.waitForTimer(t)
				if i == 0 {
					// Half a step fires nothing: the timer is not due.
					clock.Advance(step / 2)
					select {
					case p := <-got:
						t.Fatalf("fired early: %s", p)
					default:
					}
					clock.Advance(step - step/2)
				} else {
					clock.Advance(step)
				}
				at = at.Add(step)
				var ev events.EventBridgeEvent
				select {
				case p := <-got:
					if err := json.Unmarshal(p, &ev); err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("step %d did not fire", i)
				}
				if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || ev.Version != "0" ||
					!ev.Time.Equal(at) || ev.Region != "us-east-1" || ev.AccountID != "000000000000" ||
					len(ev.Resources) != 1 || ev.Resources[0] != "arn:aws:events:us-east-1:000000000000:rule/spillway-flush" ||
					string(ev.Detail) != "{}" || len(ev.ID) != 36 {
					t.Fatalf("event %+v", ev)
				}
			}
			if st := s.Stats(); st.Fired != int64(len(tt.steps)) || !st.LastFire.Equal(at) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestFireAndErrors(t *testing.T) {
	clock := newFakeClock(start)
	fail := errors.New("target down")
	s, err := New(Config{RuleName: "r", Expression: "rate(1 minute)", Clock: clock,
		Invoke: func(context.Context, []byte) error { return fail }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("Fire: %v", err)
	}
	if st := s.Stats(); st.Errors != 1 || st.Fired != 0 {
		t.Fatalf("stats %+v", st)
	}
	raw, err := s.Event(start.Add(1500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"time":"2026-11-22T02:00:01Z"`) || !strings.Contains(string(raw), `"detail-type":"Scheduled Event"`) {
		t.Fatalf("event %s", raw)
	}
}

func TestParseAndNext(t *testing.T) {
	tests := []struct {
		expr    string
		after   time.Time
		want    time.Time
		wantErr string
	}{
		{expr: "rate(1 minute)", after: start, want: start.Add(time.Minute)},
		{expr: "rate(5 minutes)", after: start, want: start.Add(5 * time.Minute)},
		{expr: "rate(2 hours)", after: start, want: start.Add(2 * time.Hour)},
		{expr: "rate(1 day)", after: start, want: start.Add(24 * time.Hour)},
		{expr: "rate(1 minutes)", wantErr: "value of 1"},
		{expr: "rate(5 minute)", wantErr: "above 1"},
		{expr: "rate(0 minutes)", wantErr: "positive"},
		{expr: "rate(5 seconds)", wantErr: "minutes, hours or days"},
		{expr: "every 5 minutes", wantErr: "rate(...) or cron(...)"},
		{expr: "cron(0 12 * * ? *)", after: start, want: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)},
		{expr: "cron(0/15 * * * ? *)", after: start.Add(7 * time.Minute), want: start.Add(15 * time.Minute)},
		{expr: "cron(0/15 * * * ? *)", after: start, want: start.Add(15 * time.Minute)},
		{expr: "cron(0 18 ? * MON-FRI *)", after: start, want: time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)},
		{expr: "cron(0 8 1 * ? *)", after: start, want: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{expr: "cron(30 9 ? JUL,AUG SUN *)", after: start, want: time.Date(2027, 7, 4, 9, 30, 0, 0, time.UTC)},
		{expr: "cron(0 0 1 JAN ? 2025)", after: start, want: time.Time{}},
		{expr: "cron(15 10 ? * 6L 2026)", wantErr: "unsupported"},
		{expr: "cron(0 10 LW * ? *)", wantErr: "unsupported"},
		{expr: "cron(0 12 * * * *)", wantErr: "exactly one"},
		{expr: "cron(0 12 ? * ? *)", wantErr: "exactly one"},
		{expr: "cron(0 12 * *)", wantErr: "6 fields"},
		{expr: "cron(61 12 * * ? *)", wantErr: "minutes"},
		{expr: "cron(0 12 10-5 * ? *)", wantErr: "backwards"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.wantErr == "unsupported" && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("error %v does not wrap ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Next(tt.after); !got.Equal(tt.want) {
				t.Fatalf("Next(%v) = %v, want %v", tt.after, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := Defaults(Config{Expression: "rate(5 secs)", Period: -1}).Validate()
	for _, w := range []string{"rule_name", "expression", "period", "invoke"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if err := Defaults(Config{RuleName: "r", Expression: "rate(5 minutes)", Invoke: func(context.Context, []byte) error { return nil }}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"rate(5 minutes)", "rate(1 day)", "cron(0/15 * * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(30 9 ? JUL,AUG SUN 2026-2030)", "cron(0 12 * * ? *)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		next := e.Next(start)
		if !next.IsZero() && !next.After(start) {
			t.Fatalf("%q: Next(%v) = %v is not later", s, start, next)
		}
	})
}
