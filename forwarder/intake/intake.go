// Package intake defines the hand-off between the forwarder's inputs (tail,
// http, forward) and its disk buffer: records encoded as Treasure Data
// import records (msgpack maps with an integer "time").
package intake

import (
	"context"
	"errors"
)

// ErrFull is returned by Append when the disk buffer is at its size limit
// and the overflow policy is to block inputs (http answers 503, forward
// withholds its ack).
var ErrFull = errors.New("disk buffer is full")

// ErrUnroutable is returned by Append and Prepare when no route accepts the
// tag and no default table is configured: the records are refused (http
// answers 400, forward withholds its ack), counted, never stored.
var ErrUnroutable = errors.New("no route accepts the tag")

// Appender stores records durably.
type Appender interface {
	// Append stores count records for tag (a Fluentd tag; the disk buffer
	// itself takes only td.<db>.<table>, forwarder/route maps others). records is the
	// concatenation of count msgpack maps, each with an integer "time" key.
	// It returns only once the records are in the disk buffer (written and
	// fsynced), or an error (ErrFull, a name error, an I/O error); on error
	// nothing of the call is stored.
	Append(ctx context.Context, tag string, records []byte, count int) error
}

// Prepared is a batch of records made ready for storing (checked and
// compressed) but not stored yet, so a source can prepare its next batch
// while the previous one is written.
type Prepared interface {
	// Commit stores the batch (written and fsynced). On ErrFull the batch
	// stays prepared and Commit may be called again; after any other
	// result it is spent.
	Commit(ctx context.Context) error
	// Discard releases a batch that will not be committed.
	Discard()
}
