package resend

import (
	"testing"
	"time"
)

func TestMinLedgerTTL(t *testing.T) {
	tests := []struct {
		name               string
		horizon, retention time.Duration
		want               time.Duration
	}{
		{name: "defaults: 7 d + 24 h + 24 h", horizon: Horizon, retention: DefaultStreamRetention, want: 216 * time.Hour},
		{name: "longer retention", horizon: Horizon, retention: 72 * time.Hour, want: 264 * time.Hour},
		{name: "no resends", horizon: 0, retention: DefaultStreamRetention, want: 48 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MinLedgerTTL(tc.horizon, tc.retention); got != tc.want {
				t.Errorf("MinLedgerTTL(%s, %s) = %s, want %s", tc.horizon, tc.retention, got, tc.want)
			}
		})
	}
}
