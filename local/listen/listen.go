// Package listen owns opening the local cloud's TCP listeners, so that a
// taken address is reported the same way, as ErrPortInUse, by every
// component (edge, TD receiver, API front).
package listen

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ErrPortInUse is wrapped by TCP's error when the address is taken.
var ErrPortInUse = errors.New("address already in use")

// TCP listens on addr. Its errors name the component (what) and the
// address; a taken address wraps ErrPortInUse and says what to do.
func TCP(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: listen on %s: %w (stop what holds the port or choose another)", what, addr, ErrPortInUse)
		}
		return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	return ln, nil
}
