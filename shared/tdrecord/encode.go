package tdrecord

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// AppendRecord appends the event m to dst as one msgpack map: m's keys
// other than "time" in sorted order (so equal records give equal bytes,
// nested maps sorted too), integers in their smallest encoding, floats as
// they are, then "time" = t last. On failure dst is returned unchanged.
func AppendRecord(dst []byte, m map[string]any, t int64) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "time" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	start := len(dst)
	buf := bytes.NewBuffer(dst)
	enc := msgpack.NewEncoder(buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	if err := enc.EncodeMapLen(len(keys) + 1); err != nil {
		return dst[:start], fmt.Errorf("encode record: %w", err)
	}
	for _, k := range keys {
		if err := enc.EncodeString(k); err != nil {
			return dst[:start], fmt.Errorf("encode key %q: %w", clip(k, 64), err)
		}
		if err := enc.Encode(m[k]); err != nil {
			return dst[:start], fmt.Errorf("encode value of %q: %w", clip(k, 64), err)
		}
	}
	out := msgp.AppendString(buf.Bytes(), "time")
	return appendInt(out, t), nil
}

// AppendRawRecord rewrites the record map rec (one whole msgpack map, as a
// Fluentd forward entry carries it) into dst with its "time" key (str or
// bin) replaced by the integer t, written last; bin keys become str, every
// other pair is copied byte for byte. rec is validated with ValueLen
// semantics first (nested depth up to MaxDepthCeiling).
func AppendRawRecord(dst, rec []byte, t int64) ([]byte, error) {
	n, p, ok := mapHeader(rec, 0)
	if !ok {
		return dst, fail(KindNotMap, "record is not a map")
	}
	start := len(dst)
	dst = append(dst, 0xdf, 0, 0, 0, 0) // map32 header, fixed below
	kept := 0
	for i := 0; i < n; i++ {
		ks, ke, next, ok := strBytes(rec, p)
		if !ok {
			if next < 0 {
				return dst[:start], fail(KindBadMsgpack, "record key: %v", errTruncated)
			}
			return dst[:start], fail(KindBadMsgpack, "record key is not a string")
		}
		end, err := skip(rec, next, 1, MaxDepthCeiling)
		if err != nil {
			return dst[:start], &Error{Kind: KindBadMsgpack, Msg: fmt.Sprintf("record value: %v", err), Err: err}
		}
		p = end
		if string(rec[ks:ke]) == "time" {
			continue
		}
		dst = msgp.AppendStringFromBytes(dst, rec[ks:ke])
		dst = append(dst, rec[next:end]...)
		kept++
	}
	dst = msgp.AppendString(dst, "time")
	dst = appendInt(dst, t)
	kept++
	// Write the smallest header and slide the pairs down.
	var buf [5]byte
	hdr := msgp.AppendMapHeader(buf[:0], uint32(kept))
	copy(dst[start:], hdr)
	m := copy(dst[start+len(hdr):], dst[start+5:])
	return dst[:start+len(hdr)+m], nil
}

// appendInt appends v in its smallest msgpack integer encoding, unsigned
// formats for v >= 0 as msgpack-ruby (Fluentd) writes them.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return msgp.AppendUint64(b, uint64(v))
	}
	return msgp.AppendInt64(b, v)
}

// Decode validates the decompressed stream raw with lim and decodes every
// event into a map (what a receiver or a test needs; the hot paths use
// Walker and keep the bytes).
func Decode(raw []byte, lim Limits) ([]map[string]any, error) {
	w := Walker{Limits: lim}
	var out []map[string]any
	var derr error
	_, err := w.Walk(raw, func(ev Event) {
		if derr != nil {
			return
		}
		var m map[string]any
		if err := msgpack.Unmarshal(raw[ev.Start:ev.End], &m); err != nil {
			derr = &Error{Kind: KindBadMsgpack, Msg: fmt.Sprintf("invalid msgpack: event %d: %v", len(out), err), Err: err}
			return
		}
		out = append(out, m)
	})
	if err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return out, nil
}
