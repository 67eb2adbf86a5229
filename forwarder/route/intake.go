package route

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// Buffer is one output's disk buffer (forwarder/buffer.Buffer).
type Buffer interface {
	intake.Appender
	Prepare(tag string, records []byte, count int, checkpoint []byte) (intake.Prepared, error)
}

// Intake routes what the inputs hand over: it maps each tag with a Router
// and stores the records in the buffer of every output the route selects.
// It is the inputs' intake.Appender and the tail sources' Preparer.
type Intake struct {
	r       *Router
	buffers map[string]Buffer
	f       Filter // nil: no filters configured
	pool    sync.Pool

	defaulted, unroutable atomic.Uint64
}

// Filter rewrites or drops a tag's records before they are stored
// (forwarder/filter.Set): it appends the records it keeps to dst and
// returns them with their number; applied is false when no filter
// concerns the tag, and records are then returned as they are.
type Filter interface {
	Filter(tag string, dst, records []byte, count int) (out []byte, kept int, applied bool, err error)
}

// tagFor is the tag output's buffer stores tag's events under.
func (in *Intake) tagFor(output, tag string, d Dest) string {
	if in.r.keepTag[output] {
		return tag
	}
	return d.Tag
}

// SetFilter makes the intake apply f to every batch before storing it.
// Without it (no filters configured) batches go to the buffer untouched.
func (in *Intake) SetFilter(f Filter) { in.f = f }

// filter applies the filters; done returns the scratch buffer.
func (in *Intake) filter(tag string, records []byte, count int) (out []byte, kept int, done func(), err error) {
	if in.f == nil {
		return records, count, func() {}, nil
	}
	bp, _ := in.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	out, kept, applied, err := in.f.Filter(tag, (*bp)[:0], records, count)
	if !applied {
		in.pool.Put(bp)
		return records, count, func() {}, err
	}
	return out, kept, func() { *bp = out[:0]; in.pool.Put(bp) }, err
}

// IntakeStats are the routing counters, in records.
type IntakeStats struct {
	Defaulted  uint64 // records stored in the default table
	Unroutable uint64 // records refused: no route and no default table
}

var _ intake.Appender = (*Intake)(nil)

// NewIntake routes with r into buffers, keyed by output name; every output a
// route names must have a buffer.
func NewIntake(r *Router, buffers map[string]Buffer) (*Intake, error) {
	for _, cr := range r.routes {
		for _, o := range cr.outputs {
			if buffers[o] == nil {
				return nil, fmt.Errorf("route %q: no buffer for output %q", cr.pat, o)
			}
		}
	}
	if buffers[DefaultOutput] == nil {
		return nil, errors.New("no buffer for the default output")
	}
	return &Intake{r: r, buffers: buffers}, nil
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
	records, count, done, err := in.filter(tag, records, count)
	defer done()
	if err != nil || count == 0 {
		return err // all filtered out: nothing to store
	}
	for _, o := range d.Outputs {
		if err := in.buffers[o].Append(ctx, in.tagFor(o, tag, d), records, count); err != nil {
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
	records, count, done, err := in.filter(tag, records, count)
	defer done() // Prepare compresses: records are not kept
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return noop{}, nil // all filtered out
	}
	if len(d.Outputs) == 1 {
		return in.buffers[d.Outputs[0]].Prepare(in.tagFor(d.Outputs[0], tag, d), records, count, checkpoint)
	}
	var m multi
	for _, o := range d.Outputs {
		p, err := in.buffers[o].Prepare(in.tagFor(o, tag, d), records, count, checkpoint)
		if err != nil {
			m.Discard()
			return nil, fmt.Errorf("output %s: %w", o, err)
		}
		m.ps = append(m.ps, p)
	}
	return &m, nil
}

// noop is a batch the filters emptied: there is nothing to store.
type noop struct{}

func (noop) Commit(context.Context) error { return nil }
func (noop) Discard()                     {}

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
