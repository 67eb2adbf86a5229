package forwardin

// This file hands a decoded message to the intake and writes its ack.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// store hands cn.out to the intake and acks when asked.
func (cn *conn) store(tag string, count int, chunk []byte, jsonAck bool) error {
	s := cn.s
	if count > 0 {
		if err := s.intake.Append(context.Background(), tag, cn.out, count); err != nil {
			if errors.Is(err, intake.ErrUnroutable) {
				s.st.unroutable.Add(uint64(count))
				return fmt.Errorf("%w: %d records: %w", errUnroutable, count, err)
			}
			s.st.refused.Add(1)
			return fmt.Errorf("%w: %d records for %s: %w", errRefused, count, tag, err)
		}
		s.st.records.Add(uint64(count))
	}
	if chunk == nil {
		return nil
	}
	var ack []byte
	if jsonAck {
		ack = append(append([]byte(`{"ack":`), jsonString(chunk)...), '}')
	} else {
		ack = appendStr([]byte{0x81, 0xa3, 'a', 'c', 'k'}, string(chunk))
	}
	cn.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	s.st.acks.Add(1) // counted before the write so a client that saw it sees the count
	if _, err := cn.c.Write(ack); err != nil {
		return fmt.Errorf("write ack: %w", err)
	}
	return nil
}
