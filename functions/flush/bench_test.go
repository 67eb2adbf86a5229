package flush

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkFlushPerMB stages 1 MiB (8 objects of 128 KiB, two hours) for a
// fresh table and measures a forced flush into one TD receiver: time per
// sealed MB against moto.
func BenchmarkFlushPerMB(b *testing.B) {
	e := newTestEnv(b)
	td := newTDReceiver(b)
	h := e.handler(b, time.Unix(hourT, 0), []Sink{td.sink()})
	msg := strings.Repeat("x", 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		table := fmt.Sprintf("bench_%d", i)
		for o := 0; o < 8; o++ {
			msgs := make([]string, 128)
			for j := range msgs {
				msgs[j] = fmt.Sprintf("%d-%d-%d-%s", i, o, j, msg)
			}
			e.stage(b, "bench_db", table, hourT-3600*int64(1+o%2), false, fmt.Sprintf("p%d", o), msgs...)
		}
		req := []byte(fmt.Sprintf(`{"source":"spillway.ingest","db":"bench_db","table":%q,"force":true}`, table))
		b.StartTimer()
		res, err := h.Handle(ctx, req)
		if err != nil || res.Events != 8*128 {
			b.Fatalf("flush: %v %+v", err, res)
		}
	}
}
