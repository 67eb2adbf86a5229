package tail

// line handles one complete line [start, end) of e.
func (t *Tailer) line(e *entry, l []byte, start, end int64) {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if t.ml == nil {
		t.record(l)
		return
	}
	_ = end
	if t.ml.Match(l) {
		t.emitML(e)
		e.ml = append(e.ml[:0], l...)
		e.mlStart, e.mlLast = start, t.now()
		return
	}
	if e.ml != nil {
		e.ml = append(append(e.ml, '\n'), l...)
		e.mlLast = t.now()
		return
	}
	t.record(l)
}

func (t *Tailer) emitML(e *entry) {
	if e.ml == nil {
		return
	}
	t.record(e.ml)
	e.ml = nil
}

// commit is how far e's records are complete: a pending multiline event is
// re-read after a restart.
func (e *entry) commit() int64 {
	if e.ml != nil {
		return e.mlStart
	}
	return e.readPos
}
