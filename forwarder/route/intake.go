package route

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// Sink is one output's disk buffer (forwarder/buffer.Buffer).
type Sink interface {
	intake.Appender
	Prepare(tag string, records []byte, count int, checkpoint []byte) (intake.Prepared, error)
}

// Intake routes what the inputs hand over: it maps each tag with a Router
// and stores the records in the buffer of every output the route selects.
// It is the inputs' intake.Appender and the tail sources' Preparer.
type Intake struct {
	r     *Router
	sinks map[string]Sink

	defaulted, unroutable atomic.Uint64
}

// IntakeStats are the routing counters, in records.
type IntakeStats struct {
	Defaulted  uint64 // records stored in the default table
	Unroutable uint64 // records refused: no route and no default table
}

var _ intake.Appender = (*Intake)(nil)

// NewIntake routes with r into sinks, keyed by output name; every output a
// route names must have a sink.
func NewIntake(r *Router, sinks map[string]Sink) (*Intake, error) {
	for _, cr := range r.routes {
		for _, o := range cr.outputs {
			if sinks[o] == nil {
				return nil, fmt.Errorf("route %q: no buffer for output %q", cr.pat, o)
			}
		}
	}
	if sinks[DefaultOutput] == nil {
		return nil, errors.New("no buffer for the default output")
	}
	return &Intake{r: r, sinks: sinks}, nil
}

// Stats returns the counters.
func (in *Intake) Stats() IntakeStats {
	return IntakeStats{Defaulted: in.defaulted.Load(), Unroutable: in.unroutable.Load()}
}

// Routable reports whether tag's events would be stored (tail sources do
// not follow a file whose tag is unroutable).
func (in *Intake) Routable(tag string) bool { return in.r.Routable(tag) }

func (in *Intake) dest(tag string, count int) (Dest, error) {
	d, err := in.r.Route(tag)
	if err != nil {
		in.unroutable.Add(uint64(count))
		return d, err
	}
	if d.Default {
		in.defaulted.Add(uint64(count))
	}
	return d, nil
}

// Append stores the records in the buffer of each output of tag's route.
// With several outputs a failure after the first store returns the error;
// a retry by the client then stores again in the outputs that had them.
func (in *Intake) Append(ctx context.Context, tag string, records []byte, count int) error {
	d, err := in.dest(tag, count)
	if err != nil {
		return err
	}
	for _, o := range d.Outputs {
		if err := in.sinks[o].Append(ctx, d.Tag, records, count); err != nil {
			return fmt.Errorf("output %s: %w", o, err)
		}
	}
	return nil
}

// Prepare prepares the records for the buffer of each output of tag's
// route.
func (in *Intake) Prepare(tag string, records []byte, count int, checkpoint []byte) (intake.Prepared, error) {
	d, err := in.dest(tag, count)
	if err != nil {
		return nil, err
	}
	if len(d.Outputs) == 1 {
		return in.sinks[d.Outputs[0]].Prepare(d.Tag, records, count, checkpoint)
	}
	var m multi
	for _, o := range d.Outputs {
		p, err := in.sinks[o].Prepare(d.Tag, records, count, checkpoint)
		if err != nil {
			m.Discard()
			return nil, fmt.Errorf("output %s: %w", o, err)
		}
		m.ps = append(m.ps, p)
	}
	return &m, nil
}

// multi commits one prepared batch per output, in order; a batch committed
// stays committed when a later one reports ErrFull, so Commit resumes with
// the first uncommitted one.
type multi struct {
	ps   []intake.Prepared
	done int
}

func (m *multi) Commit(ctx context.Context) error {
	for m.done < len(m.ps) {
		if err := m.ps[m.done].Commit(ctx); err != nil {
			if !errors.Is(err, intake.ErrFull) {
				m.done++
				m.discardRest()
			}
			return err
		}
		m.done++
	}
	return nil
}

func (m *multi) discardRest() {
	for ; m.done < len(m.ps); m.done++ {
		m.ps[m.done].Discard()
	}
}

func (m *multi) Discard() { m.discardRest() }
