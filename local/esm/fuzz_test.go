package esm

import "testing"

func FuzzFirstFailure(f *testing.F) {
	for _, s := range []string{
		`{"batchItemFailures":[]}`, `{"batchItemFailures":[{"itemIdentifier":"2"}]}`, `null`, ``, `oops`,
		`{"batchItemFailures":[{"itemIdentifier":""}]}`, `{"batchItemFailures":null}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	recs := records("1", "2", "3")
	p := &Poller{cfg: Config{ReportBatchItemFailures: true}}
	f.Fuzz(func(t *testing.T, resp []byte) {
		i := p.firstFailure(resp, recs)
		if i < 0 || i > len(recs) {
			t.Fatalf("firstFailure = %d outside 0..%d", i, len(recs))
		}
	})
}
