package listen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/local/listen"
)

func TestTCP(t *testing.T) {
	held, err := listen.TCP("holder", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on a free port: %v", err)
	}
	defer held.Close()
	tests := []struct {
		name    string
		addr    string
		wantIs  error // nil with wantErr: some other error
		wantErr bool
	}{
		{name: "free port", addr: "127.0.0.1:0"},
		{name: "taken port", addr: held.Addr().String(), wantIs: listen.ErrPortInUse, wantErr: true},
		{name: "bad address", addr: "127.0.0.1:notaport", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := listen.TCP("thing", tc.addr)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("TCP: %v", err)
				}
				_ = ln.Close()
				return
			}
			if err == nil {
				_ = ln.Close()
				t.Fatal("TCP succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "thing: listen on "+tc.addr+": ") {
				t.Errorf("error %q does not name the component and address", err)
			}
			if got := errors.Is(err, listen.ErrPortInUse); got != (tc.wantIs != nil) {
				t.Errorf("errors.Is(err, ErrPortInUse) = %v for %v", got, err)
			}
		})
	}
}
