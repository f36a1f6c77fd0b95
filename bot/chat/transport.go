package chat

import (
	"errors"
	"net"
	"net/url"
)

// TransportError describes a failed HTTP exchange without its URL (which
// may hold a token): "timed out", or the error below the URL.
func TransportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}
